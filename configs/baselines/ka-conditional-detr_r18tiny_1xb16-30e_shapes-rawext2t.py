# Raw_ext (paper Table I) on the embedded shapes data: the tiny Conditional DETR as a
# 2-teacher student (two input projections, block-diagonal encoder attention over the
# extended sequence, O(N) by folding), trained on ground truth only. Same schedule as Raw.
_base_ = './conditional-detr_r18tiny_1xb16-30e_shapes.py'
model = dict(type='KAConditionalDETRStudent', num_teachers=2, encoder_attention='folded')
