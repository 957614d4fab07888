"""prepare_voc: a tiny VOC07+12 tree becomes exactly the COCO files mmdet's converter writes,
and the VOC config's datasets load them and find the images."""
import importlib.util
import json
import os.path as osp

import pytest
from mmengine.config import Config
from PIL import Image

from mmdet.evaluation import voc_classes
from mmdet.registry import DATASETS
from mmka.datasets.partitions import VOC_CLASSES
from mmka.utils import set_data_root

from ..conftest import REPO, load_tool

VOC_CONFIG = osp.join(REPO, 'configs/_base_/datasets/voc0712_coco-format.py')
MMDET_CONVERTER = osp.join(osp.dirname(importlib.util.find_spec('mmdet').origin),
                           '.mim/tools/dataset_converters/pascal_voc.py')

# (year, split) -> {image id: ((width, height), [(class, (xmin, ymin, xmax, ymax), difficult)])}
# in VOC's 1-based corners. The difficult person comes first in its XML: the output lists it
# after the image's other objects, as mmdet's converter does.
VOC = {
    ('2007', 'trainval'): {
        '000005': ((64, 48), [('person', (30, 5, 60, 45), 1), ('chair', (5, 10, 20, 40), 0),
                              ('bird', (1, 1, 10, 8), 0)]),
        '000007': ((80, 60), [('car', (11, 21, 70, 50), 0)]),
    },
    ('2007', 'test'): {
        '000001': ((50, 40), [('dog', (3, 4, 40, 35), 0), ('person', (20, 2, 45, 38), 1)]),
    },
    ('2012', 'trainval'): {
        '2008_000002': ((40, 56), [('tvmonitor', (2, 3, 30, 50), 0)]),
    },
}
# The same objects in the output: (image id, category id, [x, y, w, h], iscrowd).
TRAINVAL_ANNS = [(0, 8, [4, 9, 15, 30], 0), (0, 2, [0, 0, 9, 7], 0), (0, 14, [29, 4, 30, 40], 1),
                 (1, 6, [10, 20, 59, 29], 0), (2, 19, [1, 2, 28, 47], 0)]
TEST_ANNS = [(0, 11, [2, 3, 37, 31], 0), (0, 14, [19, 1, 25, 36], 1)]


def write_xml(path, size, objects):
    """A VOC annotation file; ``size=None`` leaves <size> out, ``difficult=None`` its tag."""
    objs = ''.join(
        f'<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>'
        + ('' if difficult is None else f'<difficult>{difficult}</difficult>')
        + '<bndbox>' + ''.join(f'<{k}>{v}</{k}>' for k, v in
                               zip(('xmin', 'ymin', 'xmax', 'ymax'), box))
        + '</bndbox></object>' for name, box, difficult in objects)
    size_xml = (f'<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth>'
                '</size>' if size is not None else '')
    with open(path, 'w') as f:
        f.write(f'<annotation><folder>VOC</folder><filename>{osp.basename(path)}</filename>'
                f'{size_xml}<segmented>0</segmented>{objs}</annotation>')


def make_voc(root, years=('2007', '2012')):
    """The VOC tree of ``VOC`` for ``years`` under ``root`` (a VOCdevkit directory)."""
    for (year, split), images in VOC.items():
        if year not in years:
            continue
        voc = root / f'VOC{year}'
        for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
            (voc / sub).mkdir(parents=True, exist_ok=True)
        (voc / 'ImageSets/Main' / f'{split}.txt').write_text(''.join(f'{i}\n' for i in images))
        for img_id, (size, objects) in images.items():
            Image.new('RGB', size, (90, 140, 200)).save(voc / 'JPEGImages' / f'{img_id}.jpg')
            write_xml(voc / 'Annotations' / f'{img_id}.xml', size, objects)
    return root


@pytest.fixture(scope='module')
def tool():
    return load_tool('dataset_converters/prepare_voc')


@pytest.fixture
def voc_root(tmp_path):
    return make_voc(tmp_path / 'VOCdevkit')


def read(path):
    with open(path) as f:
        return json.load(f)


def expected_images(*keys):
    return [dict(id=i, file_name=f'VOC{year}/JPEGImages/{img_id}.jpg', height=size[1],
                 width=size[0])
            for i, (year, img_id, size) in enumerate(
                (year, img_id, size) for year, split in keys
                for img_id, (size, _) in VOC[(year, split)].items())]


def test_writes_exact_coco_files(tool, voc_root, capsys):
    results = tool.main([str(voc_root)])
    out_dir = voc_root / 'annotations'  # where the configs' ann_file points
    trainval, test = read(out_dir / 'voc0712_trainval.json'), read(out_dir / 'voc07_test.json')
    assert sorted(results) == sorted(map(str, (out_dir / 'voc0712_trainval.json',
                                               out_dir / 'voc07_test.json')))
    # Trainval merges both years' trainval, in year order; test is VOC2007 test only.
    assert trainval['images'] == expected_images(('2007', 'trainval'), ('2012', 'trainval'))
    assert test['images'] == expected_images(('2007', 'test'))
    for coco, anns in ((trainval, TRAINVAL_ANNS), (test, TEST_ANNS)):
        assert [(a['image_id'], a['category_id'], a['bbox'], a['iscrowd'])
                for a in coco['annotations']] == anns
        assert [a['id'] for a in coco['annotations']] == list(range(len(anns)))
        assert all(a['area'] == a['bbox'][2] * a['bbox'][3] and a['ignore'] == 0
                   for a in coco['annotations'])
        assert coco['categories'] == [dict(supercategory='none', id=i, name=n)
                                      for i, n in enumerate(VOC_CLASSES)]
        assert coco['type'] == 'instance'
    # A known box in full: chair (5, 10, 20, 40) 1-based -> [4, 9, 15, 30].
    assert trainval['annotations'][0] == dict(
        id=0, image_id=0, category_id=8, bbox=[4, 9, 15, 30], area=450, iscrowd=0, ignore=0,
        segmentation=[[4, 9, 4, 39, 19, 39, 19, 9]])
    assert trainval['info']['years'] == ['2007', '2012'] and test['info']['years'] == ['2007']
    out = capsys.readouterr().out
    assert 'VOC 2007+2012 trainval, 3 images, 5 objects (1 difficult' in out
    assert 'VOC 2007 test, 1 images, 2 objects (1 difficult' in out
    assert 'note:' not in out


def test_classes_are_the_configs_and_mmdets():
    assert tuple(Config.fromfile(VOC_CONFIG).classes) == VOC_CLASSES == tuple(voc_classes())


@pytest.mark.skipif(not osp.isfile(MMDET_CONVERTER),
                    reason='this mmdet install does not carry tools/ in mmdet/.mim')
def test_matches_mmdet_converter(tool, voc_root, tmp_path):
    spec = importlib.util.spec_from_file_location('mmdet_pascal_voc', MMDET_CONVERTER)
    mmdet_voc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mmdet_voc)
    ours = tool.prepare_voc(str(voc_root), str(tmp_path / 'ours'))
    for years, split, name in ((['2007', '2012'], 'trainval', 'voc0712_trainval.json'),
                               ('2007', 'test', 'voc07_test.json')):
        theirs = str(tmp_path / name)
        mmdet_voc.cvt_annotations(str(voc_root), years, split, theirs)
        mine = ours[str(tmp_path / 'ours' / name)]
        assert {k: v for k, v in mine.items() if k != 'info'} == read(theirs)


def test_config_datasets_load_the_output(tool, voc_root):
    tool.prepare_voc(str(voc_root))
    cfg = set_data_root(Config.fromfile(VOC_CONFIG), str(voc_root) + '/')
    assert osp.isfile(cfg.val_evaluator.ann_file)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]
    for loader, n_images in (('train_dataloader', 3), ('val_dataloader', 1)):
        dataset = DATASETS.build(dict(cfg[loader].dataset, pipeline=pipeline))
        assert dataset.metainfo['classes'] == VOC_CLASSES and len(dataset) == n_images
        first = dataset[0]  # the image is found and read through data_prefix
        size, objects = next(iter(VOC[('2007', 'trainval' if n_images == 3 else 'test')]
                                  .values()))
        assert first['img'].shape == (size[1], size[0], 3)
        # Difficult objects reach the model as ignored boxes; corners are VOC's minus 1.
        flags = sorted(o[2] for o in objects)
        assert first['gt_ignore_flags'].tolist() == [bool(f) for f in flags]
        boxes = sorted(([c - 1 for c in o[1]] for o in objects), key=lambda b: b[0])
        assert sorted(first['gt_bboxes'].tensor.tolist()) == sorted(boxes)


def test_uses_the_years_present(tool, tmp_path, capsys):
    root = make_voc(tmp_path / 'VOCdevkit', years=('2007', ))
    tool.main([str(root), '--out-dir', str(tmp_path / 'out')])
    trainval = read(tmp_path / 'out' / 'voc0712_trainval.json')
    assert trainval['images'] == expected_images(('2007', 'trainval'))
    assert trainval['info']['years'] == ['2007']
    assert 'holds VOC 2007 trainval only' in capsys.readouterr().out


def test_missing_size_and_difficult_follow_xml_dataset(tool, tmp_path):
    """No <size>: read from the image; no <difficult>: not difficult (mmdet's XMLDataset)."""
    Image.new('RGB', (33, 44)).save(tmp_path / 'a.jpg')
    write_xml(tmp_path / 'a.xml', None, [('cat', (2, 2, 12.0, 22), None)])
    ann = tool.parse_xml(str(tmp_path / 'a.xml'), str(tmp_path / 'a.jpg'))
    assert ann == dict(width=33, height=44, objects=[(7, [1, 1, 10, 20], False)])


def _remove(path):
    path.unlink()


@pytest.mark.parametrize('damage, error, match', [
    (lambda r: _remove(r / 'VOC2007/ImageSets/Main/test.txt'), FileNotFoundError,
     r'VOC2007/ImageSets/Main/test\.txt.*VOCtest_06-Nov-2007\.tar'),
    (lambda r: _remove(r / 'VOC2012/Annotations/2008_000002.xml'), FileNotFoundError,
     r'VOC2012/Annotations/2008_000002\.xml.*VOCtrainval_11-May-2012\.tar'),
    (lambda r: _remove(r / 'VOC2007/JPEGImages/000007.jpg'), FileNotFoundError,
     r'1 VOC2007 trainval images are missing.*000007\.jpg'),
    (lambda r: write_xml(r / 'VOC2007/Annotations/000007.xml', (80, 60),
                         [('unicorn', (1, 1, 5, 5), 0)]), ValueError,
     r"000007\.xml: unknown class 'unicorn'.*'aeroplane'"),
    (lambda r: (r / 'VOC2007/Annotations/000001.xml').write_text('<annotation><size>'),
     ValueError, r'000001\.xml: malformed XML'),
    (lambda r: write_xml(r / 'VOC2007/Annotations/000005.xml', (64, 48),
                         [('cat', (1, 1, 'x', 5), 0)]), ValueError,
     r"000005\.xml: <xmax> of <bndbox> is 'x', not a number"),
])
def test_errors_name_the_file_and_the_fix(tool, voc_root, damage, error, match):
    damage(voc_root)
    with pytest.raises(error, match=match):
        tool.main([str(voc_root)])
    assert not (voc_root / 'annotations').exists()  # nothing half-written


def test_missing_root_and_year_are_named(tool, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*nowhere' does not exist"):
        tool.main([str(tmp_path / 'nowhere')])
    root = make_voc(tmp_path / 'VOCdevkit', years=('2007', ))
    with pytest.raises(FileNotFoundError, match=r'VOC2012.*VOCtrainval_11-May-2012\.tar'):
        tool.main([str(root), '--years', '2007', '2012'])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='neither VOC2007/ nor VOC2012/'):
        tool.main([str(tmp_path / 'empty')])
    with pytest.raises(SystemExit):  # argparse: 2010 is not a year the configs use
        tool.main([str(root), '--years', '2010'])
