# Label-free amalgamation in the DINO family as shapes_2t_dino-labelfree-proposals-all-
# layers-conf05.py (SA + TA on the proposals and every decoder layer, targets at conf > 0.5,
# no annotation read), with DINO's denoising loss back: its denoising queries are built from
# the teachers' targets taken as labels (KADETRAmalgamator(pseudo_labels=...): each target's
# most probable class and its box), and of the student's own loss L_d only the denoising
# terms are kept (gt_losses), at λ_d = 0.1 as in the labelled Student. Why: without labels
# DINO loses its contrastive denoising loss, which nothing else replaces, and Raw without it
# loses 1.2 AP (Table I row "Raw, no denoising"). mmka's option, not the paper's (its DETR
# has no denoising). The decoder and encoder terms of L_d stay TA's, so this row differs
# from its base by the denoising terms alone.
_base_ = './shapes_2t_dino-labelfree-proposals-all-layers-conf05.py'
model = dict(gt_loss_weight=0.1,
             pseudo_labels=dict(score_thr=0.5, max_targets=50),
             gt_losses=('dn_loss_cls', 'dn_loss_bbox', 'dn_loss_iou'))
