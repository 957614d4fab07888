# Label-free amalgamation (paper Table V "SA+TA_LF"): λ_d = 0, no annotation is used, so
# images without objects are kept for training.
_base_ = './shapes_2t.py'
model = dict(gt_loss_weight=0.0)
train_dataloader = dict(dataset=dict(filter_cfg=dict(filter_empty_gt=False)))
