# Teacher 1 of the 2-teacher partition of the embedded shapes data (classes: see
# mmka.datasets.partitions.PARTITIONS['shapes_2t'][0]).
_base_ = '../baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py'
from mmka.datasets.partitions import get_partition

classes = get_partition('shapes_2t')[0]
metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
