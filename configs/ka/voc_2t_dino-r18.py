# KA on VOC 07+12 into a smaller student: voc_2t_dino's DINO-4scale R50 teachers -> a
# DINO-4scale R18 student (torchvision://resnet18 ImageNet weights, ChannelMapper from
# ResNet-18's C3-C5 channels [128, 256, 512]). Any mmdet backbone works the same way (set
# its out_indices to strides 8 / 16 / 32 and the neck's in_channels to its channels): SA
# compares token sequences, so what student and teachers must share is the transformer's
# embed dims (the neck maps any backbone to 256) and the levels and strides of the tokens
# (4 levels: 8, 16, 32 and the neck's extra stride-64 level), not the backbone. Data,
# schedule, hooks and weights as voc_2t_dino. Teachers: see voc_2t_dino.py.
#   tools/dist_train.sh configs/ka/voc_2t_dino-r18.py 8
# ResNet-18 weights offline: --cfg-options model.student.backbone.init_cfg.checkpoint=/path
_base_ = './voc_2t_dino.py'
model = dict(
    student=dict(
        backbone=dict(depth=18,
                      init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
        neck=dict(in_channels=[128, 256, 512])))
