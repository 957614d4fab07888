# Teacher 1 of the 2-teacher VOC partition in the paper's recipe (Table II; classes:
# mmka.datasets.partitions.PARTITIONS['voc_2t'][0]): pre-norm DETR R50 initialised from
# UP-DETR's unsupervised pre-training, fine-tuned on its classes for 200 epochs (lr step at
# 150), as the paper's teachers are ("first pre-trained as UP-DETR and then fine-tuned").
# Before training, once for all teachers:
#   1. download up-detr-pre-training-60ep-imagenet.pth (UP-DETR's release, github.com/dddzg/up-detr)
#   2. python tools/model_converters/updetr_to_mmdet.py up-detr-pre-training-60ep-imagenet.pth \
#          checkpoints/up-detr-pre-training-60ep-imagenet_mmdet.pth --skip-head
#      (--skip-head: the pre-training head predicts patches, not VOC classes; the converter
#      lists the keys it leaves out)
#   3. python tools/dataset_converters/prepare_voc.py data/VOCdevkit
#   4. tools/dist_train.sh configs/teachers/detr-prenorm_r50_4xb8-200e_voc0712-t1of2.py 4
# The post-norm, ImageNet-start teachers are configs/teachers/detr_r50_4xb8-150e_voc0712-*.
_base_ = '../baselines/detr-prenorm_r50_4xb8-200e_voc0712.py'
from mmka.datasets.partitions import get_partition

classes = get_partition('voc_2t')[0]
metainfo = dict(classes=classes)
model = dict(backbone=dict(init_cfg=None), bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
# UP-DETR holds the backbone too: no ImageNet initialisation on top of it.
load_from = 'checkpoints/up-detr-pre-training-60ep-imagenet_mmdet.pth'
