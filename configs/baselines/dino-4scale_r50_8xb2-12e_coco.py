# Raw baseline in the DINO family on COCO 2017: mmdet's DINO-4scale R50 as it is
# (mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py: all 80 classes, ground truth only, ImageNet
# R50, mmdet's COCO scales (short side 480-800, max 1333), AdamW 1e-4 with backbone lr x0.1,
# 12 epochs with the lr step at 11, 8 GPUs x 2 images), with mmka's COCO dataset class (same
# data, a clear error on a bad class list) so that the teachers
# (configs/teachers/dino-4scale_r50_8xb2-12e_coco-t*) train on their classes. The Raw_ext and
# the KA students (configs/ka/coco_2t_dino.py) share its data and schedule.
#   tools/dist_train.sh configs/baselines/dino-4scale_r50_8xb2-12e_coco.py 8
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(imports=['mmka'], allow_failed_imports=False)
train_dataloader = dict(dataset=dict(type='CocoSubsetDataset'))
val_dataloader = dict(dataset=dict(type='CocoSubsetDataset'))
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
