# Teacher 3 of the 4-teacher partition of the embedded shapes data, tiny DINO (classes: see
# mmka.datasets.partitions.PARTITIONS['shapes_4t'][2]).
_base_ = '../baselines/dino_r18tiny_1xb16-12e_shapes.py'
from mmka.datasets.partitions import get_partition

classes = get_partition('shapes_4t')[2]
metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
