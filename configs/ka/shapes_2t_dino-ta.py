# Loss ablation (paper Table V "TA") in the DINO family: TA + ground truth, no SA; the
# same TA targets as shapes_2t_dino.py.
_base_ = './shapes_2t_dino.py'
model = dict(hooks=[dict(type='TaskAmalgamation', loss_weight=1.0,
                         targets=dict(score_thr=0.1, max_targets=50, temperature=1.0,
                                      pad='zero'))])
