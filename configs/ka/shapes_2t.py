# Knowledge amalgamation on the embedded shapes data, 2 teachers (paper Table I "Student"):
# SA + TA + ground truth, λ_seq = λ_task = 1, λ_d = 0.1 (eq. 12). The student is the Raw_ext
# tiny Conditional DETR (2 input projections, block-diagonal encoder attention).
# Teachers: train them first (tools/train.py configs/teachers/...-t{1,2}of2.py), or point
# `teacher_checkpoints` elsewhere with --cfg-options.
_base_ = ['../_base_/datasets/shapes.py', 'mmdet::_base_/default_runtime.py']
from mmka.datasets import SHAPE_CLASSES
from mmka.utils import load_model_cfg

custom_imports = dict(imports=['mmka'], allow_failed_imports=False)
num_teachers = 2
teacher_configs = [
    f'configs/teachers/conditional-detr_r18tiny_1xb16-30e_shapes-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/conditional-detr_r18tiny_1xb16-30e_shapes-t{t}of2/epoch_30.pth' for t in (1, 2)]

model = dict(
    type='KADETRAmalgamator',
    student=load_model_cfg(
        '{{ fileDirname }}/../baselines/ka-conditional-detr_r18tiny_1xb16-30e_shapes-rawext2t.py'),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)],
    classes=SHAPE_CLASSES,
    hooks=[
        dict(type='SequenceAmalgamation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ],
    gt_loss_weight=0.1)

metainfo = dict(classes=SHAPE_CLASSES)
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader

max_epochs = 30
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[25],
         gamma=0.1),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2))
log_processor = dict(type='LogProcessor', window_size=25, by_epoch=True)
