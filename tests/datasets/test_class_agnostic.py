"""Class-agnostic copies of COCO annotation files (the teachers' pre-training data)."""
import json

import pytest

from mmka.datasets import write_class_agnostic_annotations, write_class_agnostic_splits

COCO = dict(
    images=[dict(id=1, file_name='a.png', width=8, height=8)],
    annotations=[dict(id=1, image_id=1, category_id=3, bbox=[0, 0, 2, 2], area=4, iscrowd=0),
                 dict(id=2, image_id=1, category_id=7, bbox=[1, 1, 3, 3], area=9, iscrowd=1)],
    categories=[dict(id=3, name='disc'), dict(id=7, name='star')])


def write(path, obj=COCO):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def test_every_box_becomes_the_one_category_and_nothing_else_changes(tmp_path):
    src = write(tmp_path / 'in.json')
    out = write_class_agnostic_annotations(src, tmp_path / 'sub/out.json', name='shape')
    assert json.loads((tmp_path / 'sub/out.json').read_text()) == out
    assert out['categories'] == [dict(id=1, name='shape')]
    assert [a['category_id'] for a in out['annotations']] == [1, 1]
    for before, after in zip(COCO['annotations'], out['annotations']):
        assert {k: v for k, v in after.items() if k != 'category_id'} == \
            {k: v for k, v in before.items() if k != 'category_id'}
    assert out['images'] == COCO['images']
    assert json.loads(src.read_text()) == COCO  # the source keeps its classes


def test_splits_are_written_beside_their_sources(tmp_path):
    for split in ('train', 'val'):
        write(tmp_path / f'annotations/instances_{split}.json')
    paths = write_class_agnostic_splits(tmp_path)
    assert paths == [str(tmp_path / f'annotations/instances_{s}_agnostic.json')
                     for s in ('train', 'val')]
    assert json.loads(open(paths[1]).read())['categories'] == [dict(id=1, name='object')]


def test_bad_arguments_name_the_problem(tmp_path):
    src = write(tmp_path / 'in.json')
    with pytest.raises(FileNotFoundError, match='missing.json'):
        write_class_agnostic_annotations(tmp_path / 'missing.json', tmp_path / 'out.json')
    with pytest.raises(ValueError, match='is ann_file'):
        write_class_agnostic_annotations(src, src)
    with pytest.raises(TypeError, match="non-empty str .* got ''"):
        write_class_agnostic_annotations(src, tmp_path / 'out.json', name='')
    with pytest.raises(TypeError, match="got the str 'train'"):
        write_class_agnostic_splits(tmp_path, splits='train')
    with pytest.raises(FileNotFoundError, match='instances_val.json'):
        write_class_agnostic_splits(tmp_path, splits=('val', ))
