# Label-free amalgamation as shapes_2t_dino-labelfree-proposals-all-layers-conf05-dn-prob-
# unweighted.py (SA + TA on the proposals and every decoder layer, targets at conf > 0.5,
# denoising from them, TA matched by DETR's cost and unweighted; no annotation read), with
# TA's class term DINO's own: focal loss on the targets' argmax labels
# (TaskAmalgamationLoss(cls_loss=FocalLoss)) instead of the Bernoulli KL to their soft
# scores, unmatched queries at full weight as DINO's negatives (bg_weight=1.0; eq. 11's
# background term has 0.1) and the term averaged by the matched count, as DINOHead's. Why:
# the label-free TA rows stay 3 AP below "targets as labels", whose L_d gives DINO's focal
# loss on the same targets, and neither TA's matching nor its conf weights were the cause
# (the base row: +0.2). TA's decoder and proposal terms are then DINO's L_d on the targets
# as labels, at weight 1 where L_d has λ_d = 0.1: this row tells the class-loss form from the
# term weight. mmka's diagnostic, not the paper's recipe.
_base_ = './shapes_2t_dino-labelfree-proposals-all-layers-conf05-dn-prob-unweighted.py'
model = dict(hooks=[
    dict(type='SequenceAmalgamation', loss_weight=1.0),
    dict(type='TaskAmalgamation', loss_weight=1.0, proposals=True, aux_layers=True,
         match_cost='prob',
         targets=dict(score_thr=0.5, max_targets=50, temperature=1.0, pad='zero'),
         loss=dict(type='TaskAmalgamationLoss', conf_weighting=False, bg_weight=1.0,
                   cls_loss=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                                 loss_weight=1.0))),
])
