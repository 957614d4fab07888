# Label-free TA only (paper Table V "TA_LF"): λ_d = 0, no SA.
_base_ = './shapes_2t-labelfree.py'
model = dict(hooks=[dict(type='TaskAmalgamation', loss_weight=1.0)])
