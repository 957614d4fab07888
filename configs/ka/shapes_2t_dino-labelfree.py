# Label-free amalgamation (paper Table V "SA+TA_LF") in the DINO family: λ_d = 0, SA + TA
# only, so images without objects are kept for training. For DINO "label-free" means no
# ground-truth term of any kind: with gt_loss_weight=0 the student's own loss is never
# computed, so the decoder, two-stage encoder (enc_loss_*) and denoising (dn_loss_*) terms
# are all absent, and its forward builds no denoising queries (they are made from the
# annotations): it reads no annotation (KADETRAmalgamator / run_detector; tested). What no
# term then trains: DINO's two-stage proposal head (the memory transform and the class and
# box branches that score and place the encoder's top-k proposals), taught by the encoder
# ground-truth loss alone; TA distils the decoder's detection queries, whose reference boxes
# are those proposals, detached. Compare with shapes_2t_dino.py (the same with ground truth
# at λ_d = 0.1).
_base_ = './shapes_2t_dino.py'
model = dict(gt_loss_weight=0.0)
train_dataloader = dict(dataset=dict(filter_cfg=dict(filter_empty_gt=False)))
