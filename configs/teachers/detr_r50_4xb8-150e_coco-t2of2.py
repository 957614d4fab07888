# Teacher 2 of the 2-teacher COCO partition (paper Table III; classes:
# mmka.datasets.partitions.PARTITIONS['coco_2t'][1]). Teachers get 150 epochs with the
# lr step at 100 (paper §IV-A2), students 60.
_base_ = '../baselines/detr_r50_4xb8-60e_coco.py'
from mmka.datasets.partitions import get_partition

classes = get_partition('coco_2t')[1]
metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
max_epochs = 150
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[100],
         gamma=0.1)
]
