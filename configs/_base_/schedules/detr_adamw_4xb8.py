# Paper §IV-A2: AdamW lr 1e-4, weight decay 1e-4, backbone lr x0.1, gradient clipping 0.1,
# mixed precision, batch 32 = 4 GPUs x 8 images. `max_epochs` and the lr step are set by the
# dataset configs (VOC: 150 epochs, step at 100; COCO: 60 epochs, step at 50).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=1.0)}))
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=32, enable=False)
