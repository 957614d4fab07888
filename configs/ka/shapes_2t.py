# Knowledge amalgamation on the embedded shapes data, 2 teachers (paper Table I "Student"):
# SA + TA + ground truth, λ_seq = λ_task = 1, λ_d = 0.1 (eq. 12). The student is the Raw_ext
# tiny Conditional DETR (2 input projections, block-diagonal encoder attention).
# Teachers: train them first (tools/train.py configs/teachers/...-t{1,2}of2.py), or point
# `teacher_checkpoints` elsewhere with --cfg-options.
# Data, schedule and runtime are Raw's (the paper compares students at one schedule).
_base_ = '../baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py'
from mmka.datasets import SHAPE_CLASSES
from mmka.utils import load_model_cfg

num_teachers = 2
teacher_configs = [
    f'configs/teachers/conditional-detr_r18tiny_1xb16-30e_shapes-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/conditional-detr_r18tiny_1xb16-30e_shapes-t{t}of2/epoch_30.pth' for t in (1, 2)]

model = dict(
    _delete_=True,
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

