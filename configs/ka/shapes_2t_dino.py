# Knowledge amalgamation on the embedded shapes data with 2 tiny DINO teachers (paper
# Table I "Student" in the DINO family): SA + TA + ground truth, λ_seq = λ_task = 1,
# λ_d = 0.1 (eq. 12). The student is the DINO Raw_ext (KADINOStudent, 2 segments). SA hints
# every level's tokens of the projections and encoder layers; TA distils the detection
# queries (DINO's denoising queries are left out).
# Teachers: train them first (tools/train.py configs/teachers/dino_r18tiny_1xb16-12e_shapes-
# t{1,2}of2.py), or point `teacher_checkpoints` elsewhere with --cfg-options.
_base_ = '../baselines/dino_r18tiny_1xb16-12e_shapes.py'
from mmka.datasets import SHAPE_CLASSES
from mmka.utils import load_model_cfg

num_teachers = 2
teacher_configs = [f'configs/teachers/dino_r18tiny_1xb16-12e_shapes-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/dino_r18tiny_1xb16-12e_shapes-t{t}of2/epoch_12.pth' for t in (1, 2)]

model = dict(
    _delete_=True,
    type='KADETRAmalgamator',
    student=load_model_cfg(
        '{{ fileDirname }}/../baselines/ka-dino_r18tiny_1xb16-12e_shapes-rawext2t.py'),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)],
    classes=SHAPE_CLASSES,
    hooks=[
        dict(type='SequenceAmalgamation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ],
    gt_loss_weight=0.1)
