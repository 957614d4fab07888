# Teacher 1 of the 4-teacher VOC partition (paper Table II; classes:
# mmka.datasets.partitions.PARTITIONS['voc_4t'][0]).
_base_ = '../baselines/detr_r50_4xb8-150e_voc0712.py'
from mmka.datasets.partitions import get_partition

classes = get_partition('voc_4t')[0]
metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
