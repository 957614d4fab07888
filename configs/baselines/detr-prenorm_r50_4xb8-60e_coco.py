# Raw baseline of the paper's COCO recipe: pre-norm DETR R50 (UP-DETR's architecture) on all
# 80 classes, ground truth only, with the students' schedule (60 epochs, lr step at 50),
# max image side 1000 (paper §IV-A2, Fig. 4b), from scratch like the students.
_base_ = './detr_r50_4xb8-60e_coco.py'
model = dict(type='PreNormDETR')
