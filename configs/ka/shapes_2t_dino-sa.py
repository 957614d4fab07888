# Loss ablation (paper Table V "SA") in the DINO family: SA + ground truth, no TA.
_base_ = './shapes_2t_dino.py'
model = dict(hooks=[dict(type='SequenceAmalgamation', loss_weight=1.0)])
