import pytest
from mmengine.config import Config

from mmdet.datasets import CocoDataset
from mmka.datasets import DATASET_CLASSES, PARTITIONS, check_partition, get_partition
from mmka.datasets.partitions import COCO_ID_TO_NAME

from ..conftest import REPO


@pytest.mark.parametrize('name', sorted(PARTITIONS))
def test_partition_is_disjoint_and_complete(name):
    groups = PARTITIONS[name]
    classes = DATASET_CLASSES[name.split('_')[0]]
    check_partition(groups, classes)  # raises on unknown or shared names
    flat = [c for g in groups for c in g]
    assert len(flat) == len(set(flat)) == len(classes)
    assert set(flat) == set(classes)
    assert len(groups) == int(name.split('_')[1][0])
    assert len({len(g) for g in groups}) == 1  # equal sizes, as in the paper


def test_voc_partitions_follow_paper_table2():
    t1, t2 = get_partition('voc_2t')
    assert t1 == ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
                  'chair', 'cow')
    assert t2[0] == 'diningtable' and t2[-1] == 'tvmonitor'
    assert get_partition('voc_4t')[2] == ('diningtable', 'dog', 'horse', 'motorbike', 'person')


def test_coco_partition_ids_equal_paper_table3():
    name_to_id = {v: k for k, v in COCO_ID_TO_NAME.items()}
    t1, t2 = get_partition('coco_2t')
    assert sorted(name_to_id[c] for c in t1) == [
        1, 2, 3, 4, 5, 10, 11, 16, 17, 18, 19, 20, 27, 28, 31, 34, 35, 36, 37, 38, 44, 46, 47,
        52, 53, 54, 55, 56, 62, 63, 64, 72, 73, 74, 78, 79, 80, 84, 85, 86]
    assert sorted(name_to_id[c] for c in t2) == [
        6, 7, 8, 9, 13, 14, 15, 21, 22, 23, 24, 25, 32, 33, 39, 40, 41, 42, 43, 48, 49, 50, 51,
        57, 58, 59, 60, 61, 65, 67, 70, 75, 76, 77, 81, 82, 87, 88, 89, 90]
    # Names as mmdet spells them, in mmdet's label order (= category id order).
    assert DATASET_CLASSES['coco'] == tuple(CocoDataset.METAINFO['classes'])


def test_voc_dataset_config_lists_partition_classes():
    cfg = Config.fromfile(f'{REPO}/configs/_base_/datasets/voc0712_coco-format.py')
    assert tuple(cfg.classes) == DATASET_CLASSES['voc']


def test_check_partition_errors_name_the_problem():
    classes = ('a', 'b', 'c')
    with pytest.raises(ValueError, match=r"'b'.*teacher 0 and teacher 1"):
        check_partition([('a', 'b'), ('b', 'c')], classes)
    with pytest.raises(ValueError, match=r"\['zebra'\]"):
        check_partition([('a',), ('zebra',)], classes)
    with pytest.raises(ValueError, match='empty'):
        check_partition([('a',), ()], classes)
    with pytest.raises(ValueError, match='voc_3t'):
        get_partition('voc_3t')
