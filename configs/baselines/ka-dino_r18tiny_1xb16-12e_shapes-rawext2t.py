# Raw_ext in the DINO family on the embedded shapes data: the tiny DINO as a 2-teacher
# student (two multi-level input projections, each segment's deformable encoder on its own,
# decoder cross-attention over 2 x 3 levels), trained on ground truth only. Same schedule
# as the DINO Raw.
_base_ = './dino_r18tiny_1xb16-12e_shapes.py'
model = dict(type='KADINOStudent', num_teachers=2)
