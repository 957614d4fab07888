# Teacher 3 of the 4-teacher VOC partition in the paper's recipe (classes: PARTITIONS['voc_4t'][2]);
# obtaining the UP-DETR weights: see detr-prenorm_r50_4xb8-200e_voc0712-t1of2.py.
_base_ = '../baselines/detr-prenorm_r50_4xb8-200e_voc0712.py'
from mmka.datasets.partitions import get_partition

classes = get_partition('voc_4t')[2]
metainfo = dict(classes=classes)
model = dict(backbone=dict(init_cfg=None), bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
# UP-DETR holds the backbone too: no ImageNet initialisation on top of it.
load_from = 'checkpoints/up-detr-pre-training-60ep-imagenet_mmdet.pth'
