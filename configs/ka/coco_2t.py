# Knowledge amalgamation on COCO 2017 with 2 teachers (paper Tables I and III): DETR R50
# teachers (150 epochs) -> a 2-segment DETR R50 student, SA + TA + ground truth, max side
# 1000, 60 epochs with the lr step at 50, 4 GPUs x 8 images, AMP.
_base_ = [
    '../_base_/datasets/coco_max1000.py',
    '../_base_/schedules/detr_adamw_4xb8.py',
    'mmdet::_base_/default_runtime.py',
]
from mmka.datasets import DATASET_CLASSES
from mmka.utils import load_model_cfg

custom_imports = dict(imports=['mmka'], allow_failed_imports=False)
teacher_configs = [f'configs/teachers/detr_r50_4xb8-150e_coco-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/detr_r50_4xb8-150e_coco-t{t}of2/epoch_150.pth' for t in (1, 2)]
student = load_model_cfg('{{ fileDirname }}/../baselines/detr_r50_4xb8-60e_coco.py')
student.update(type='KADETRStudent', num_teachers=2)
model = dict(
    type='KADETRAmalgamator',
    student=student,
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)],
    classes=DATASET_CLASSES['coco'],
    hooks=[
        dict(type='SequenceAmalgamation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ],
    gt_loss_weight=0.1)

max_epochs = 60
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[50],
         gamma=0.1)
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=3))
