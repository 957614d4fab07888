# mmdet's post-norm DETR R50 at the paper's sizes (6 encoder / 6 decoder layers, 256 dims,
# 8 heads, FFN 2048, 100 queries, softmax head with a background class). The paper's (and
# UP-DETR's) architecture is the pre-norm variant: ./detr-prenorm_r50.py. The backbone starts
# from torchvision's ImageNet weights when they can be downloaded; the paper used SwAV
# weights: pass a local file with
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/resnet50.pth
embed_dims = 256
model = dict(
    type='DETR',
    num_queries=100,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='ChannelMapper',
        in_channels=[2048],
        kernel_size=1,
        out_channels=embed_dims,
        act_cfg=None,
        norm_cfg=None,
        num_outs=1),
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.1,
                               batch_first=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=2048, num_fcs=2,
                         ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True)))),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.1,
                               batch_first=True),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.1,
                                batch_first=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=2048, num_fcs=2,
                         ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))),
        return_intermediate=True),
    positional_encoding=dict(num_feats=embed_dims // 2, normalize=True),
    bbox_head=dict(
        type='DETRHead',
        num_classes=80,
        embed_dims=embed_dims,
        loss_cls=dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False,
                      loss_weight=1.0, class_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=1.),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(max_per_img=100))
