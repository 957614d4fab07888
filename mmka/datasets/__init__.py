from .class_agnostic import (write_class_agnostic_annotations,
                             write_class_agnostic_splits)
from .coco_subset import CocoSubsetDataset
from .partitions import (DATASET_CLASSES, PARTITIONS, check_partition,
                         get_partition)
from .synthetic_shapes import (SHAPE_CLASSES, ensure_shapes_dataset,
                               generate_shapes_dataset)

__all__ = [
    'CocoSubsetDataset', 'DATASET_CLASSES', 'PARTITIONS', 'check_partition',
    'get_partition', 'SHAPE_CLASSES', 'ensure_shapes_dataset', 'generate_shapes_dataset',
    'write_class_agnostic_annotations', 'write_class_agnostic_splits'
]
