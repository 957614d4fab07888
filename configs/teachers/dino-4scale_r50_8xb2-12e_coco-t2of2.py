# Teacher 2 of the 2-teacher COCO partition in the DINO family (classes:
# mmka.datasets.partitions.PARTITIONS['coco_2t'][1]): DINO-4scale R50 from ImageNet,
# mmdet's 12-epoch schedule (lr step at 11), trained on its classes only with the data of
# configs/baselines/dino-4scale_r50_8xb2-12e_coco.py.
#   tools/dist_train.sh configs/teachers/dino-4scale_r50_8xb2-12e_coco-t2of2.py 8
# writes work_dirs/dino-4scale_r50_8xb2-12e_coco-t2of2/epoch_12.pth, the checkpoint
# configs/ka/coco_2t_dino*.py read.
_base_ = '../baselines/dino-4scale_r50_8xb2-12e_coco.py'
from mmka.datasets.partitions import get_partition

classes = get_partition('coco_2t')[1]
metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
# As the DETR COCO teachers: images with none of its classes are left out (mmdet's DINO
# keeps images without boxes, which on all 80 classes are ~1% of the set).
train_dataloader = dict(
    dataset=dict(metainfo=metainfo, filter_cfg=dict(filter_empty_gt=True, min_size=32)))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
