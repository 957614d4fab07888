# shapes_2t_dino (the paper's recipe) with TA on every decoder layer, as the authors' code
# does: each of the 3 decoder layers is matched to the teachers' targets on its own and gets
# its own d{l}.loss_ta_* terms, on the detection queries only (DINO's denoising queries are
# left out on every layer, as on the last). The paper does not say which layers TA
# supervises; shapes_2t_dino.py distils the last layer only, so layers 1..L-1 learn from the
# ground truth (at λ_d) alone. The two-stage encoder proposals are not distilled either way.
_base_ = './shapes_2t_dino.py'
model = dict(hooks=[
    dict(type='SequenceAmalgamation', loss_weight=1.0),
    dict(type='TaskAmalgamation', loss_weight=1.0, aux_layers=True,
         targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
])
