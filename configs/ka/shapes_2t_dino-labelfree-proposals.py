# Label-free amalgamation in the DINO family (as shapes_2t_dino-labelfree.py: λ_d = 0, SA +
# TA only, no annotation read) with TA on the two-stage proposals too
# (TaskAmalgamation(proposals=True)): the student's encoder top-k class scores and boxes are
# matched to the teachers' soft targets on their own, as DINO's encoder loss matches them
# to the labels. Without it nothing trains DINO's proposal head in label-free mode (see
# shapes_2t_dino-labelfree.py), and the decoder starts from boxes an untrained head placed.
# The paper's DETR has no proposals; this is mmka's option, off in every other config.
_base_ = './shapes_2t_dino-labelfree.py'
model = dict(hooks=[
    dict(type='SequenceAmalgamation', loss_weight=1.0),
    dict(type='TaskAmalgamation', loss_weight=1.0, proposals=True,
         targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
])
