# Raw baseline on the embedded shapes data in the Deformable DETR family: the tiny
# Deformable DETR (box refinement, single-stage queries; ../_base_/models/
# deformable-detr_r18tiny.py) trained on ground truth for all 20 classes, with the DINO
# shapes baseline's schedule (configs/baselines/dino_r18tiny_1xb16-12e_shapes.py: AdamW 5e-4,
# clip 0.1, 100 warm-up iterations, 12 epochs with the step at 10) plus Deformable DETR's
# lr x0.1 on the sampling offsets and the reference points (mmdet's recipe).
#   python tools/train.py configs/baselines/deformable-detr_r18tiny_1xb16-12e_shapes.py
_base_ = [
    '../_base_/datasets/shapes.py',
    '../_base_/models/deformable-detr_r18tiny.py',
    'mmdet::_base_/default_runtime.py',
]
from mmka.datasets import SHAPE_CLASSES

custom_imports = dict(imports=['mmka'], allow_failed_imports=False)
metainfo = dict(classes=SHAPE_CLASSES)
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader

max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1)
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[10], gamma=0.1),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2))
log_processor = dict(type='LogProcessor', window_size=25, by_epoch=True)
auto_scale_lr = dict(base_batch_size=16)
