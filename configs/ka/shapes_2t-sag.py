# SAG baseline (paper eq. 5, Table V "SAG"): a plain (non-extended) student whose sequence
# mimics the average of the teachers' sequences through learned projections, + TA + ground
# truth. Compare with shapes_2t-slim.py (same sequence length), as the paper does.
_base_ = './shapes_2t.py'
from mmka.utils import load_model_cfg

model = dict(
    student=dict(
        _delete_=True,
        **load_model_cfg(
            '{{ fileDirname }}/../baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py')),
    hooks=[
        dict(type='SequenceAggregation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ])
