# SAG baseline (paper eq. 5, Table V "SAG") in the DINO family: a plain (non-extended) tiny
# DINO student (the DINO Raw's model, DINOAnyDim: one multi-level input projection, 3
# levels) whose projection and encoder layers mimic, on every level, the average of the
# teachers' sequences through learned projections, + TA + ground truth (λ_d = 0.1, the
# same TA targets as shapes_2t_dino.py). Compare with shapes_2t_dino-slim.py (same sequence
# length), as the paper does, and with shapes_2t_dino.py (SA instead of SAG).
_base_ = './shapes_2t_dino.py'
from mmka.utils import load_model_cfg

model = dict(
    student=dict(
        _delete_=True,
        **load_model_cfg('{{ fileDirname }}/../baselines/dino_r18tiny_1xb16-12e_shapes.py')),
    hooks=[
        dict(type='SequenceAggregation', loss_weight=1.0),
        dict(type='TaskAmalgamation', loss_weight=1.0,
             targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
    ])
