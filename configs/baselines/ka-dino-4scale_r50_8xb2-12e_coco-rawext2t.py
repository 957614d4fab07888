# Raw_ext in the DINO family on COCO 2017: DINO-4scale R50 as a 2-teacher student (two
# 4-level input projections after one backbone pass, each segment's deformable encoder on
# its own, decoder cross-attention over 2 x 4 levels), ground truth only. Data and schedule
# of the DINO Raw (mmdet's 12 epochs). A plain DINO checkpoint loads through `load_from`.
_base_ = './dino-4scale_r50_8xb2-12e_coco.py'
model = dict(type='KADINOStudent', num_teachers=2)
