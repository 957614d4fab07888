from .partition_coco_metric import PartitionCocoMetric

__all__ = ['PartitionCocoMetric']
