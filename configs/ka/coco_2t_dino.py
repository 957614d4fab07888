# Knowledge amalgamation on COCO 2017 with 2 DINO teachers (paper Tables I and III in the
# DINO family): DINO-4scale R50 teachers from ImageNet, each trained on its group of the
# 2-teacher COCO partition -> a DINO-4scale R50 student with a 2-segment extended sequence
# (KADINOStudent), ImageNet backbone, random transformer; SA + TA + ground truth (λ_seq =
# λ_task = 1, λ_d = 0.1), TA without DINO's denoising queries. Data, scales and schedule are
# mmdet's DINO (configs/baselines/dino-4scale_r50_8xb2-12e_coco.py: short side 480-800,
# max 1333, 12 epochs with the lr step at 11, 8 GPUs x 2 images).
# Train the teachers first:
#   tools/dist_train.sh configs/teachers/dino-4scale_r50_8xb2-12e_coco-t1of2.py 8
#   tools/dist_train.sh configs/teachers/dino-4scale_r50_8xb2-12e_coco-t2of2.py 8
# (or point `teacher_checkpoints` elsewhere with --cfg-options), then
#   tools/dist_train.sh configs/ka/coco_2t_dino.py 8
_base_ = '../baselines/dino-4scale_r50_8xb2-12e_coco.py'
from mmka.datasets import DATASET_CLASSES
from mmka.utils import load_model_cfg

teacher_configs = [
    f'configs/teachers/dino-4scale_r50_8xb2-12e_coco-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/dino-4scale_r50_8xb2-12e_coco-t{t}of2/epoch_12.pth' for t in (1, 2)]

model = dict(
    _delete_=True,
    type='KADETRAmalgamator',
    student=load_model_cfg(
        '{{ fileDirname }}/../baselines/ka-dino-4scale_r50_8xb2-12e_coco-rawext2t.py'),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)],
    classes=DATASET_CLASSES['coco'],
    hooks=[
        dict(type='SequenceAmalgamation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ],
    gt_loss_weight=0.1)
