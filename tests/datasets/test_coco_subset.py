import json

import pytest

from mmdet.registry import DATASETS


def _build(root, classes=None, ann_file='annotations/instances_train.json'):
    cfg = dict(type='CocoSubsetDataset', data_root=root, ann_file=ann_file,
               data_prefix=dict(img='train/'), pipeline=[])
    if classes is not None:
        cfg['metainfo'] = dict(classes=classes)
    return DATASETS.build(cfg)


def test_subset_labels_follow_class_names(shapes_root):
    from mmka.datasets import get_partition
    classes = get_partition('shapes_2t')[1]
    dataset = _build(shapes_root, classes)
    assert dataset.metainfo['classes'] == classes
    labels = {inst['bbox_label'] for i in range(len(dataset))
              for inst in dataset.get_data_info(i)['instances']}
    assert labels and labels <= set(range(len(classes)))
    # Category ids of the subset are the file's ids of exactly these names, in order
    # (mmdet drops its COCO API after loading, so read the names from the file).
    with open(f'{shapes_root}annotations/instances_train.json') as f:
        names = {c['id']: c['name'] for c in json.load(f)['categories']}
    assert [names[i] for i in dataset.cat_ids] == list(classes)


def test_unknown_class_name_is_named(shapes_root):
    with pytest.raises(ValueError, match=r"\['unicorn'\].*not categories"):
        _build(shapes_root, ('unicorn', ))


def test_class_order_must_follow_file(shapes_root):
    from mmka.datasets import SHAPE_CLASSES
    swapped = (SHAPE_CLASSES[1], SHAPE_CLASSES[0])
    with pytest.raises(ValueError, match='category order'):
        _build(shapes_root, swapped)


def test_missing_data_root_is_named(tmp_path):
    missing = str(tmp_path / 'no_such_root') + '/'
    with pytest.raises(FileNotFoundError, match='no_such_root'):
        _build(missing)
