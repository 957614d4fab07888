# Knowledge amalgamation on PASCAL VOC 07+12 with 2 teachers, without UP-DETR weights: the
# recipe of mmka before configs/ka/voc_2t.py followed the paper. Post-norm (mmdet) DETR R50
# teachers from an ImageNet backbone and a random transformer,
# configs/teachers/detr_r50_4xb8-150e_voc0712-t{1,2}of2.py -> a DETR R50
# student with a 2-segment extended sequence; SA + TA + ground truth (λ 1, 1, 0.1), AdamW
# 1e-4, wd 1e-4, backbone lr x0.1, clip 0.1, AMP, 4 GPUs x 8 images, max side 512,
# 150 epochs with the lr step at 100 (paper Fig. 4a).
#   tools/dist_train.sh configs/ka/voc_2t-imagenet-150e.py 4
# Data, schedule and runtime are Raw's (configs/baselines/detr_r50_4xb8-150e_voc0712.py).
_base_ = '../baselines/detr_r50_4xb8-150e_voc0712.py'
from mmka.utils import load_model_cfg

teacher_configs = [
    f'configs/teachers/detr_r50_4xb8-150e_voc0712-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/detr_r50_4xb8-150e_voc0712-t{t}of2/epoch_150.pth' for t in (1, 2)]

model = dict(
    _delete_=True,
    type='KADETRAmalgamator',
    student=load_model_cfg(
        '{{ fileDirname }}/../baselines/ka-detr_r50_4xb8-150e_voc0712-rawext2t.py'),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)],
    classes={{_base_.classes}},
    hooks=[
        dict(type='SequenceAmalgamation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ],
    gt_loss_weight=0.1)

