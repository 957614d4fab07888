"""Tests of the embedded synthetic shapes dataset (mmka.datasets.synthetic_shapes)."""
import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from mmka.datasets import synthetic_shapes
from mmka.datasets.synthetic_shapes import (SHAPE_CLASSES, ensure_shapes_dataset,
                                            generate_shapes_dataset)

# 40/20 images: >= 20 per split, so the first-object rule puts every class in both splits.
SMALL = dict(num_train=40, num_val=20, image_size=96, seed=0)


@pytest.fixture(scope='module')
def small(tmp_path_factory) -> Path:
    """One small dataset shared by the read-only tests."""
    return generate_shapes_dataset(tmp_path_factory.mktemp('shapes') / 'small', **SMALL)


def _json_bytes(root: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted((root / 'annotations').glob('*.json'))}


def _pixels(root: Path, split: str) -> list:
    return [np.asarray(Image.open(p)) for p in sorted((root / split).glob('*.png'))]


def _coco(root: Path, split: str) -> dict:
    return json.loads((root / 'annotations' / f'instances_{split}.json').read_text())


def test_class_list():
    assert len(SHAPE_CLASSES) == 20
    assert len(set(SHAPE_CLASSES)) == 20
    assert all(name == name.lower() for name in SHAPE_CLASSES)


def test_layout(small):
    for split, num in (('train', 40), ('val', 20)):
        files = sorted(p.name for p in (small / split).iterdir())
        assert files == [f'{k:06d}.png' for k in range(num)]
        image = Image.open(small / split / files[0])
        assert image.mode == 'RGB' and image.size == (96, 96)
    meta = json.loads((small / 'generation.json').read_text())
    assert meta['params'] == dict(SMALL, min_objects=2, max_objects=6, hue_jitter=30)
    assert meta['version'] == synthetic_shapes.GENERATOR_VERSION
    assert meta['counts']['train']['images'] == 40
    # Nothing is left behind next to the dataset (temporary or replaced directories).
    assert sorted(p.name for p in small.parent.iterdir()) == ['small']


def test_deterministic(small, tmp_path):
    again = generate_shapes_dataset(tmp_path / 'again', **SMALL)
    assert _json_bytes(again) == _json_bytes(small)
    for split in ('train', 'val'):
        again_pixels, small_pixels = _pixels(again, split), _pixels(small, split)
        assert len(again_pixels) == len(small_pixels)
        for a, b in zip(again_pixels, small_pixels):
            np.testing.assert_array_equal(a, b)


def test_seed_changes_everything(small, tmp_path):
    other = generate_shapes_dataset(tmp_path / 'other', **dict(SMALL, seed=1))
    assert _coco(other, 'train')['annotations'] != _coco(small, 'train')['annotations']
    assert not np.array_equal(_pixels(other, 'train')[0], _pixels(small, 'train')[0])


def test_splits_use_independent_streams(small, tmp_path):
    # Train and val differ, and the size of one split does not change the other.
    assert not np.array_equal(_pixels(small, 'train')[0], _pixels(small, 'val')[0])
    fewer_val = generate_shapes_dataset(tmp_path / 'fewer_val', **dict(SMALL, num_val=5))
    assert _json_bytes(fewer_val)['instances_train.json'] == \
        _json_bytes(small)['instances_train.json']
    val = _pixels(fewer_val, 'val')
    assert len(val) == 5
    np.testing.assert_array_equal(val[4], _pixels(small, 'val')[4])


@pytest.mark.parametrize('split', ['train', 'val'])
def test_valid_coco(small, split):
    api = COCO(str(small / 'annotations' / f'instances_{split}.json'))
    assert api.getCatIds() == list(range(1, 21))
    assert [c['name'] for c in api.loadCats(api.getCatIds())] == list(SHAPE_CLASSES)
    assert all(c['supercategory'] == 'shape' for c in api.loadCats(api.getCatIds()))
    anns = api.loadAnns(api.getAnnIds())
    assert len({a['id'] for a in anns}) == len(anns) and min(a['id'] for a in anns) >= 1
    for image in api.loadImgs(api.getImgIds()):
        assert (small / split / image['file_name']).is_file()
        assert (image['width'], image['height']) == (96, 96)
    for a in anns:
        assert all(isinstance(v, float) for v in a['bbox'])
        assert a['area'] == pytest.approx(a['bbox'][2] * a['bbox'][3])
        assert a['iscrowd'] == 0


@pytest.mark.parametrize('split', ['train', 'val'])
def test_boxes_inside_and_large_enough(small, split):
    for a in _coco(small, split)['annotations']:
        x, y, w, h = a['bbox']
        assert x >= 0 and y >= 0 and x + w <= 96 and y + h <= 96, a
        assert w >= 4 and h >= 4, a


@pytest.mark.parametrize('split', ['train', 'val'])
def test_objects_per_image_and_occlusion(small, split):
    coco = _coco(small, split)
    per_image = {image['id']: [] for image in coco['images']}
    for a in coco['annotations']:   # in drawing order: later objects lie on top
        per_image[a['image_id']].append(a['bbox'])
    for boxes in per_image.values():
        assert 1 <= len(boxes) <= 6
        for earlier, later in combinations(boxes, 2):
            assert synthetic_shapes._box_overlap(later, earlier) <= 0.4


@pytest.mark.parametrize('split', ['train', 'val'])
def test_every_category_present(small, split):
    present = {a['category_id'] for a in _coco(small, split)['annotations']}
    assert present == set(range(1, 21))


def test_ensure_reuses_and_regenerates(tmp_path):
    out = tmp_path / 'shapes'
    params = dict(num_train=24, num_val=20, image_size=64)
    ensure_shapes_dataset(out, **params)
    stamp = (out / 'generation.json').stat().st_mtime_ns
    png = (out / 'train' / '000000.png').stat().st_mtime_ns
    # Same parameters, also when the defaults are spelled out: nothing is rewritten.
    assert ensure_shapes_dataset(out, **params, seed=0, max_objects=6) == out
    assert (out / 'generation.json').stat().st_mtime_ns == stamp
    assert (out / 'train' / '000000.png').stat().st_mtime_ns == png
    # Different parameters: a clean regeneration (no stale images from the old copy).
    ensure_shapes_dataset(out, **dict(params, num_train=21))
    meta = json.loads((out / 'generation.json').read_text())
    assert meta['params']['num_train'] == 21
    assert len(list((out / 'train').glob('*.png'))) == 21
    assert sorted(p.name for p in tmp_path.iterdir()) == ['shapes']


def test_ensure_regenerates_incomplete_dataset(tmp_path):
    out = tmp_path / 'shapes'
    (out / 'train').mkdir(parents=True)   # e.g. a copy without generation.json
    ensure_shapes_dataset(out, num_train=20, num_val=20, image_size=64)
    assert len(list((out / 'train').glob('*.png'))) == 20


def test_interrupted_generation_keeps_old_copy(tmp_path, monkeypatch):
    out = generate_shapes_dataset(tmp_path / 'shapes', num_train=20, num_val=20,
                                  image_size=64)
    before = _json_bytes(out)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic_shapes, '_write_json', crash)
    with pytest.raises(KeyboardInterrupt):
        generate_shapes_dataset(out, num_train=30, num_val=20, image_size=64)
    assert _json_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['shapes']


@pytest.mark.parametrize('kwargs, name', [
    (dict(num_train=0), 'num_train'),
    (dict(num_val=-1), 'num_val'),
    (dict(image_size=31), 'image_size'),
    (dict(seed=-1), 'seed'),
    (dict(min_objects=0), 'min_objects'),
    (dict(min_objects=5, max_objects=3), 'min_objects'),
    (dict(num_train=2.5), 'num_train'),
])
def test_bad_input_raises(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_shapes_dataset(tmp_path / 'bad', **kwargs)
    with pytest.raises(ValueError, match=name):
        ensure_shapes_dataset(tmp_path / 'bad', **kwargs)
    assert not (tmp_path / 'bad').exists()


def test_hue_jitter_controls_the_colour_hint(tmp_path):
    """hue_jitter=0: every object of a class has (nearly) its home hue; 180: any hue."""
    import colorsys
    small = dict(SMALL, num_train=20, num_val=1)

    def hues(root):
        coco = _coco(root, 'train')
        out = {}
        for ann in coco['annotations']:
            image = np.asarray(Image.open(root / 'train' / f"{ann['image_id'] - 1:06d}.png"))
            x, y, w, h = (int(v) for v in ann['bbox'])
            r, g, b = image[y + h // 2, x + w // 2][:3] / 255.0
            out.setdefault(ann['category_id'], []).append(colorsys.rgb_to_hsv(r, g, b)[0])
        return out

    fixed = hues(generate_shapes_dataset(tmp_path / 'fixed', **dict(small, hue_jitter=0)))
    free = hues(generate_shapes_dataset(tmp_path / 'free', **dict(small, hue_jitter=180)))
    spread = lambda d: np.median([np.ptp(v) for v in d.values() if len(v) > 2] or [0])
    assert spread(fixed) < spread(free)
    with pytest.raises(ValueError, match='hue_jitter'):
        generate_shapes_dataset(tmp_path / 'bad', **dict(small, hue_jitter=200))
