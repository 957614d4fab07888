# Loss ablation (paper Table V "SA"): sequence-level amalgamation + ground truth, no TA.
_base_ = './shapes_2t.py'
model = dict(hooks=[dict(type='SequenceAmalgamation', loss_weight=1.0)])
