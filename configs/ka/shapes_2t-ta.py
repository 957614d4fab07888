# Loss ablation (paper Table V "TA"): task-level amalgamation + ground truth, no SA.
_base_ = './shapes_2t.py'
model = dict(hooks=[dict(type='TaskAmalgamation', loss_weight=1.0)])
