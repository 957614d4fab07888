"""Category partitions of the teachers (paper Tables II and III), defined once, by name.

A partition is a tuple of class-name tuples, one per teacher. Teachers are plain mmdet
detectors trained with ``metainfo=dict(classes=partition[i])``; the student's label space is
the dataset's full class list, and teacher labels are mapped into it by class name.
"""
from typing import Dict, Sequence, Tuple

from .synthetic_shapes import SHAPE_CLASSES

Partition = Tuple[Tuple[str, ...], ...]

# VOC order, as in mmdet's VOCDataset and the COCO-format files of its VOC converter.
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
               'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')

# COCO category id -> name (the 80 used ids of instances_*2017.json).
COCO_ID_TO_NAME: Dict[int, str] = {
    1: 'person', 2: 'bicycle', 3: 'car', 4: 'motorcycle', 5: 'airplane', 6: 'bus',
    7: 'train', 8: 'truck', 9: 'boat', 10: 'traffic light', 11: 'fire hydrant',
    13: 'stop sign', 14: 'parking meter', 15: 'bench', 16: 'bird', 17: 'cat', 18: 'dog',
    19: 'horse', 20: 'sheep', 21: 'cow', 22: 'elephant', 23: 'bear', 24: 'zebra',
    25: 'giraffe', 27: 'backpack', 28: 'umbrella', 31: 'handbag', 32: 'tie',
    33: 'suitcase', 34: 'frisbee', 35: 'skis', 36: 'snowboard', 37: 'sports ball',
    38: 'kite', 39: 'baseball bat', 40: 'baseball glove', 41: 'skateboard',
    42: 'surfboard', 43: 'tennis racket', 44: 'bottle', 46: 'wine glass', 47: 'cup',
    48: 'fork', 49: 'knife', 50: 'spoon', 51: 'bowl', 52: 'banana', 53: 'apple',
    54: 'sandwich', 55: 'orange', 56: 'broccoli', 57: 'carrot', 58: 'hot dog',
    59: 'pizza', 60: 'donut', 61: 'cake', 62: 'chair', 63: 'couch', 64: 'potted plant',
    65: 'bed', 67: 'dining table', 70: 'toilet', 72: 'tv', 73: 'laptop', 74: 'mouse',
    75: 'remote', 76: 'keyboard', 77: 'cell phone', 78: 'microwave', 79: 'oven',
    80: 'toaster', 81: 'sink', 82: 'refrigerator', 84: 'book', 85: 'clock', 86: 'vase',
    87: 'scissors', 88: 'teddy bear', 89: 'hair drier', 90: 'toothbrush'}
COCO_CLASSES = tuple(COCO_ID_TO_NAME.values())

# Paper Table III, teacher 1 of the 2-teacher COCO split (category ids); teacher 2 = the rest.
COCO_T1_OF_2_IDS = (1, 2, 3, 4, 5, 10, 11, 16, 17, 18, 19, 20, 27, 28, 31, 34, 35, 36, 37,
                    38, 44, 46, 47, 52, 53, 54, 55, 56, 62, 63, 64, 72, 73, 74, 78, 79, 80,
                    84, 85, 86)


def _split_by_ids(t1_ids: Sequence[int]) -> Partition:
    t1 = tuple(COCO_ID_TO_NAME[i] for i in t1_ids)
    t2 = tuple(name for name in COCO_CLASSES if name not in t1)
    return (t1, t2)


def _chunks(classes: Sequence[str], num_groups: int) -> Partition:
    size = len(classes) // num_groups
    return tuple(tuple(classes[k * size:(k + 1) * size]) for k in range(num_groups))


#: Full class list of each dataset (the student's label space, in label order).
DATASET_CLASSES: Dict[str, Tuple[str, ...]] = {
    'shapes': tuple(SHAPE_CLASSES),
    'voc': VOC_CLASSES,
    'coco': COCO_CLASSES,
}

#: Teacher partitions. VOC: paper Table II (consecutive groups in VOC order);
#: COCO: paper Table III; shapes: the embedded benchmark, built the same way as VOC.
PARTITIONS: Dict[str, Partition] = {
    'shapes_2t': _chunks(SHAPE_CLASSES, 2),
    'shapes_4t': _chunks(SHAPE_CLASSES, 4),
    'voc_2t': _chunks(VOC_CLASSES, 2),
    'voc_4t': _chunks(VOC_CLASSES, 4),
    'coco_2t': _split_by_ids(COCO_T1_OF_2_IDS),
}


def get_partition(name: str) -> Partition:
    """Return the partition registered under ``name`` (e.g. ``'voc_2t'``)."""
    if name not in PARTITIONS:
        raise ValueError(f'Unknown partition {name!r}; available: {sorted(PARTITIONS)}.')
    return PARTITIONS[name]


def check_partition(groups: Sequence[Sequence[str]], classes: Sequence[str]) -> None:
    """Validate teacher class groups against the student's class list.

    Raises:
        ValueError: a group is empty, names a class that is not in ``classes``, or two
            groups share a class (teachers must be trained on disjoint categories).
    """
    known = set(classes)
    owner: Dict[str, int] = {}
    for t, group in enumerate(groups):
        if len(group) == 0:
            raise ValueError(f'Teacher {t} has an empty class list.')
        unknown = [c for c in group if c not in known]
        if unknown:
            raise ValueError(
                f'Teacher {t} classes {unknown} are not in the dataset classes {tuple(classes)}; '
                'check the spelling or the metainfo of the dataset.')
        for c in group:
            if c in owner:
                raise ValueError(
                    f'Class {c!r} belongs to teacher {owner[c]} and teacher {t}: partitions '
                    'must be disjoint.')
            owner[c] = t
