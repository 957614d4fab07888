# A tiny Conditional DETR that learns the embedded shapes data on 2 CPU cores in minutes:
# ResNet-18 with base_channels=32 and 3 stages (stride 16, 128 channels out), embed dims 128,
# 2 encoder / 3 decoder layers, 4 heads, FFN 512, 30 queries. Trained from scratch, so the
# backbone's BatchNorm is trainable. `ConditionalDETRAnyDim` is mmdet's ConditionalDETR with
# the decoder fixed for embed dims other than 256 (see mmka/models/detectors).
embed_dims = 128
num_heads = 4
ffn_dims = 512
model = dict(
    type='ConditionalDETRAnyDim',
    num_queries=30,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=32,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(
        type='ChannelMapper',
        in_channels=[128],
        kernel_size=1,
        out_channels=embed_dims,
        act_cfg=None,
        norm_cfg=None,
        num_outs=1),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=embed_dims, num_heads=num_heads, dropout=0.1,
                batch_first=True),
            ffn_cfg=dict(
                embed_dims=embed_dims, feedforward_channels=ffn_dims, num_fcs=2,
                ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True)))),
    decoder=dict(
        num_layers=3,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=embed_dims, num_heads=num_heads, attn_drop=0.1,
                cross_attn=False),
            cross_attn_cfg=dict(
                embed_dims=embed_dims, num_heads=num_heads, attn_drop=0.1,
                cross_attn=True),
            ffn_cfg=dict(
                embed_dims=embed_dims, feedforward_channels=ffn_dims, num_fcs=2,
                ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))),
        return_intermediate=True),
    positional_encoding=dict(num_feats=embed_dims // 2, normalize=True),
    bbox_head=dict(
        type='ConditionalDETRHead',
        num_classes=20,
        embed_dims=embed_dims,
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(max_per_img=30))
