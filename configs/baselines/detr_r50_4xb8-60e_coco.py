# Raw baseline (paper Table I "Raw", COCO): DETR R50 on all 80 classes, ground truth only,
# with the students' schedule (60 epochs, lr step at 50), max image side 1000.
_base_ = [
    '../_base_/models/detr_r50.py',
    '../_base_/datasets/coco_max1000.py',
    '../_base_/schedules/detr_adamw_4xb8.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmka'], allow_failed_imports=False)
model = dict(bbox_head=dict(num_classes=80))
max_epochs = 60
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[50],
         gamma=0.1)
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=3))
