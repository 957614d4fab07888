# Paper Table I's Student_UP on VOC: configs/ka/voc_2t.py with the student starting from the
# UP-DETR pre-training too (the teachers' start), not from scratch. The paper: Student_UP
# 51.64 AP against Raw_UP 51.02 (Raw from the same pre-training:
# configs/baselines/detr-prenorm_r50_4xb8-200e_voc0712.py with --cfg-options load_from=...).
# `student_checkpoint` loads the plain DETR checkpoint into the student wherever names and
# shapes fit (the projection tiled into both segments; the converter's --skip-head leaves
# out the head and queries, which keep their initialisation) and logs what it kept.
#   tools/dist_train.sh configs/ka/voc_2t-up.py 4
_base_ = './voc_2t.py'

model = dict(student_checkpoint='checkpoints/up-detr-pre-training-60ep-imagenet_mmdet.pth')
