# Knowledge amalgamation on PASCAL VOC 07+12 with 2 teachers, without UP-DETR weights: the
# recipe of mmka before configs/ka/voc_2t.py followed the paper. Post-norm (mmdet) DETR R50
# teachers from an ImageNet backbone and a random transformer,
# configs/teachers/detr_r50_4xb8-150e_voc0712-t{1,2}of2.py -> a post-norm DETR R50 student
# with a 2-segment extended sequence, 150 epochs with the lr step at 100 (paper Fig. 4a);
# hooks, data and optimiser as in voc_2t.py (the paper's recipe).
#   tools/dist_train.sh configs/ka/voc_2t-imagenet-150e.py 4
_base_ = './voc_2t.py'
from mmka.utils import load_model_cfg

teacher_configs = [
    f'configs/teachers/detr_r50_4xb8-150e_voc0712-t{t}of2.py' for t in (1, 2)]
teacher_checkpoints = [
    f'work_dirs/detr_r50_4xb8-150e_voc0712-t{t}of2/epoch_150.pth' for t in (1, 2)]

model = dict(
    student=load_model_cfg(
        '{{ fileDirname }}/../baselines/ka-detr_r50_4xb8-150e_voc0712-rawext2t.py'),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)])
max_epochs = 150
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[100],
         gamma=0.1)
]
