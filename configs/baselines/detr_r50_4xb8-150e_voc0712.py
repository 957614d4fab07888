# Raw baseline (paper Table I "Raw"): DETR R50 on all 20 VOC classes, ground truth only.
_base_ = [
    '../_base_/models/detr_r50.py',
    '../_base_/datasets/voc0712_coco-format.py',
    '../_base_/schedules/detr_adamw_4xb8.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmka'], allow_failed_imports=False)
model = dict(bbox_head=dict(num_classes=20))
max_epochs = 150
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[100],
         gamma=0.1)
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
