# Knowledge amalgamation on COCO 2017 with 2 teachers (paper Tables I and III), the paper's
# recipe: pre-norm DETR R50 teachers, UP-DETR pre-trained then fine-tuned 150 epochs
# (configs/teachers/detr-prenorm_r50_4xb8-150e_coco-t{1,2}of2.py) -> a 2-segment pre-norm
# DETR R50 student from scratch, SA + TA + ground truth, max side 1000, 60 epochs with the
# lr step at 50, 4 GPUs x 8 images, AMP.
# Data, schedule (60 epochs, step at 50) and runtime are Raw's.
_base_ = '../baselines/detr-prenorm_r50_4xb8-60e_coco.py'
from mmka.datasets import DATASET_CLASSES
from mmka.utils import load_model_cfg

teacher_configs = [
    f'configs/teachers/detr-prenorm_r50_4xb8-150e_coco-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/detr-prenorm_r50_4xb8-150e_coco-t{t}of2/epoch_150.pth' for t in (1, 2)]
student = load_model_cfg('{{ fileDirname }}/../baselines/detr-prenorm_r50_4xb8-60e_coco.py')
student.update(type='KAPreNormDETRStudent', num_teachers=2)
model = dict(
    _delete_=True,
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

