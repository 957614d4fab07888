# Teacher 2 of the 2-teacher VOC partition in the DINO family (classes:
# mmka.datasets.partitions.PARTITIONS['voc_2t'][1]): DINO-4scale R50 from ImageNet,
# mmdet's 12-epoch schedule (lr step at 11), trained on its classes only with the data of
# configs/baselines/dino-4scale_r50_8xb2-12e_voc0712.py.
#   tools/dist_train.sh configs/teachers/dino-4scale_r50_8xb2-12e_voc0712-t2of2.py 8
# writes work_dirs/dino-4scale_r50_8xb2-12e_voc0712-t2of2/epoch_12.pth, the checkpoint
# configs/ka/voc_2t_dino*.py read.
_base_ = '../baselines/dino-4scale_r50_8xb2-12e_voc0712.py'
from mmka.datasets.partitions import get_partition

classes = get_partition('voc_2t')[1]
metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
