# Raw_ext in the Deformable DETR family on the embedded shapes data: the tiny Deformable DETR
# as a 2-teacher student (KADeformableDETRStudent: two multi-level input projections, each
# segment's deformable encoder on its own, decoder cross-attention over 2 x 3 levels),
# trained on ground truth only. Same schedule as the Deformable DETR Raw.
_base_ = './deformable-detr_r18tiny_1xb16-12e_shapes.py'
model = dict(type='KADeformableDETRStudent', num_teachers=2)
