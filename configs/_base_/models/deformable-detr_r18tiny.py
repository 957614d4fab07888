# The tiny Deformable DETR of the embedded shapes data: the backbone, neck and sizes of
# ./dino_r18tiny.py (ResNet-18 with base_channels=32 and 3 stages, strides 8 and 16 plus
# the neck's stride-32 level, embed dims 128, 2 encoder / 3 decoder layers, 4 heads, 4
# sampling points, FFN 512, 30 queries) as mmdet's DeformableDETR with box refinement and
# Deformable DETR's own settings (positional encoding offset -0.5 / temperature 10000,
# focal loss weight 2). Dropout 0 as the tiny DINO (mmdet's Deformable DETR uses 0.1; the
# tiny models under-fit, they do not over-fit).
# Single-stage queries: mmdet 3.3's two-stage Deformable DETR crashes below 256 embed dims
# (DeformableDETR.get_proposal_pos_embed hard-codes 128 features per coordinate, 2 x 256
# channels, into pos_trans_fc, which expects 2 x embed_dims).
embed_dims = 128
num_heads = 4
num_levels = 3
ffn_dims = 512
model = dict(
    type='DeformableDETR',
    num_queries=30,
    with_box_refine=True,
    as_two_stage=False,
    num_feature_levels=num_levels,
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
        out_indices=(1, 2),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(
        type='ChannelMapper',
        in_channels=[64, 128],
        kernel_size=1,
        out_channels=embed_dims,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32),
        num_outs=num_levels),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads,
                               num_levels=num_levels, num_points=4, dropout=0.0,
                               batch_first=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=ffn_dims,
                         ffn_drop=0.0))),
    decoder=dict(
        num_layers=3,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, dropout=0.0,
                               batch_first=True),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads,
                                num_levels=num_levels, num_points=4, dropout=0.0,
                                batch_first=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=ffn_dims,
                         ffn_drop=0.0)),
        post_norm_cfg=None),
    positional_encoding=dict(num_feats=embed_dims // 2, normalize=True, offset=-0.5),
    bbox_head=dict(
        type='DeformableDETRHead',
        num_classes=20,
        embed_dims=embed_dims,
        sync_cls_avg_factor=True,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=2.0),
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
