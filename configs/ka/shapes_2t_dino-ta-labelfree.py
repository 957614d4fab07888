# Label-free TA only (paper Table V "TA_LF") in the DINO family: λ_d = 0, no SA; the same
# TA targets as shapes_2t_dino.py. What label-free means for DINO (no decoder, encoder or
# denoising ground-truth term, no annotation read): see shapes_2t_dino-labelfree.py.
_base_ = './shapes_2t_dino-labelfree.py'
model = dict(hooks=[dict(type='TaskAmalgamation', loss_weight=1.0,
                         targets=dict(score_thr=0.1, max_targets=50, temperature=1.0,
                                      pad='zero'))])
