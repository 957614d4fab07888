# Raw_ext (paper Table I, VOC): DETR R50 as a 2-teacher student (two input projections,
# block-diagonal encoder attention over the extended sequence), ground truth only.
# Initialise from a Raw DETR checkpoint with `load_from`: the projection is tiled.
_base_ = './detr_r50_4xb8-150e_voc0712.py'
model = dict(type='KADETRStudent', num_teachers=2, encoder_attention='folded')
