# Raw_ext of the paper's VOC recipe: the pre-norm DETR R50 as a 2-teacher student (two input
# projections, block-diagonal encoder attention over the extended sequence), ground truth
# only. A plain (pre-norm) DETR checkpoint loads through `load_from`: the projection is tiled.
_base_ = './detr-prenorm_r50_4xb8-200e_voc0712.py'
model = dict(type='KAPreNormDETRStudent', num_teachers=2, encoder_attention='folded')
