# shapes_2t (the paper's recipe) with TA on every decoder layer, as the authors' code does:
# each auxiliary layer is matched to the teachers' targets on its own and gets its own
# d{l}.loss_ta_* terms. The paper does not say which layers TA supervises; shapes_2t.py
# distils the last layer only, so layers 1..L-1 learn from the ground truth (at λ_d) alone.
_base_ = './shapes_2t.py'
model = dict(hooks=[
    dict(type='SequenceAmalgamation', loss_weight=1.0),
    dict(type='TaskAmalgamation', loss_weight=1.0, aux_layers=True,
         targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
])
