# Knowledge amalgamation on PASCAL VOC 07+12 with 2 DINO teachers (paper Table I "Student"
# in the DINO family): DINO-4scale R50 teachers from ImageNet, each trained on its half of
# the classes -> a DINO-4scale R50 student with a 2-segment extended sequence
# (KADINOStudent: two 4-level projections, per-segment deformable encoder, decoder over
# 2 x 4 levels), ImageNet backbone, random transformer; SA + TA + ground truth (λ_seq =
# λ_task = 1, λ_d = 0.1). SA hints every level's tokens of the projections and encoder
# layers; TA distils the detection queries (DINO's denoising queries are left out). Data,
# scale (max side 512) and schedule (mmdet's DINO: 12 epochs, lr step at 11, 8 GPUs x 2
# images) are the DINO Raw's (configs/baselines/dino-4scale_r50_8xb2-12e_voc0712.py, whose
# header says why).
# Train the teachers first:
#   tools/dist_train.sh configs/teachers/dino-4scale_r50_8xb2-12e_voc0712-t1of2.py 8
#   tools/dist_train.sh configs/teachers/dino-4scale_r50_8xb2-12e_voc0712-t2of2.py 8
# (or point `teacher_checkpoints` elsewhere with --cfg-options), then
#   tools/dist_train.sh configs/ka/voc_2t_dino.py 8
_base_ = '../baselines/dino-4scale_r50_8xb2-12e_voc0712.py'
from mmka.utils import load_model_cfg

teacher_configs = [
    f'configs/teachers/dino-4scale_r50_8xb2-12e_voc0712-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/dino-4scale_r50_8xb2-12e_voc0712-t{t}of2/epoch_12.pth' for t in (1, 2)]

model = dict(
    _delete_=True,
    type='KADETRAmalgamator',
    student=load_model_cfg(
        '{{ fileDirname }}/../baselines/ka-dino-4scale_r50_8xb2-12e_voc0712-rawext2t.py'),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)],
    classes={{_base_.classes}},
    hooks=[
        dict(type='SequenceAmalgamation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ],
    gt_loss_weight=0.1)
