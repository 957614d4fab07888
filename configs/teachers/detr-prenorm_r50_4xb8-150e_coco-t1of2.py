# Teacher 1 of the 2-teacher COCO partition in the paper's recipe (Table III; classes:
# mmka.datasets.partitions.PARTITIONS['coco_2t'][0]): pre-norm DETR R50 from UP-DETR's
# pre-training, fine-tuned 150 epochs at max side 1000 (paper §IV-A2: "150 epochs (for about
# eight days)"; lr step at 100). UP-DETR weights: see
# configs/teachers/detr-prenorm_r50_4xb8-200e_voc0712-t1of2.py (steps 1-2).
_base_ = './detr_r50_4xb8-150e_coco-t1of2.py'
model = dict(type='PreNormDETR', backbone=dict(init_cfg=None))
# UP-DETR holds the backbone too: no ImageNet initialisation on top of it.
load_from = 'checkpoints/up-detr-pre-training-60ep-imagenet_mmdet.pth'
