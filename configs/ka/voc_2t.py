# Knowledge amalgamation on PASCAL VOC 07+12 with 2 teachers, the paper's recipe (Table I,
# "Student"): pre-norm DETR R50 teachers, UP-DETR pre-trained then fine-tuned on their
# classes (configs/teachers/detr-prenorm_r50_4xb8-200e_voc0712-t{1,2}of2.py: train them
# first, their header says which weights to obtain and convert) -> a pre-norm DETR R50
# student with a 2-segment extended sequence, from scratch (ImageNet backbone); SA + TA +
# ground truth (λ_seq = λ_task = 1, λ_d = 0.1), AdamW 1e-4, wd 1e-4, backbone lr x0.1,
# clip 0.1, AMP, 4 GPUs x 8 images, max side 512, 200 epochs with the lr step at 150
# (paper §IV-A2; the authors' code agrees).
#   tools/dist_train.sh configs/ka/voc_2t.py 4
# The student starts "without the time-costing pre-training" as in the paper's main rows;
# configs/ka/voc_2t-up.py starts it from UP-DETR as well (Table I's Student_UP). Not
# `load_from`: it loads into the amalgamator, whose student keys a plain checkpoint lacks,
# and would silently load nothing. Data, schedule and runtime are Raw's
# (configs/baselines/detr-prenorm_r50_4xb8-200e_voc0712.py). Without UP-DETR weights:
# configs/ka/voc_2t-imagenet-150e.py.
_base_ = '../baselines/detr-prenorm_r50_4xb8-200e_voc0712.py'
from mmka.utils import load_model_cfg

teacher_configs = [
    f'configs/teachers/detr-prenorm_r50_4xb8-200e_voc0712-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/detr-prenorm_r50_4xb8-200e_voc0712-t{t}of2/epoch_200.pth' for t in (1, 2)]

model = dict(
    _delete_=True,
    type='KADETRAmalgamator',
    student=load_model_cfg(
        '{{ fileDirname }}/../baselines/ka-detr-prenorm_r50_4xb8-200e_voc0712-rawext2t.py'),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)],
    classes={{_base_.classes}},
    hooks=[
        dict(type='SequenceAmalgamation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ],
    gt_loss_weight=0.1)
