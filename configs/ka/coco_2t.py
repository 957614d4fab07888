# Knowledge amalgamation on COCO 2017 with 2 teachers (paper Tables I and III): DETR R50
# teachers (150 epochs) -> a 2-segment DETR R50 student, SA + TA + ground truth, max side
# 1000, 60 epochs with the lr step at 50, 4 GPUs x 8 images, AMP.
# Data, schedule (60 epochs, step at 50) and runtime are Raw's.
_base_ = '../baselines/detr_r50_4xb8-60e_coco.py'
from mmka.datasets import DATASET_CLASSES
from mmka.utils import load_model_cfg

teacher_configs = [f'configs/teachers/detr_r50_4xb8-150e_coco-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/detr_r50_4xb8-150e_coco-t{t}of2/epoch_150.pth' for t in (1, 2)]
student = load_model_cfg('{{ fileDirname }}/../baselines/detr_r50_4xb8-60e_coco.py')
student.update(type='KADETRStudent', num_teachers=2)
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

