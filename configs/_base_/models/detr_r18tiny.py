# The tiny embedded detector of conditional-detr_r18tiny.py as a vanilla DETR: same
# backbone, input projection, encoder, widths and queries; DETR's decoder (plain
# multi-head attention) and its softmax head with a background class.
_base_ = './conditional-detr_r18tiny.py'
embed_dims = 128
num_heads = 4
ffn_dims = 512
model = dict(
    type='DETR',
    decoder=dict(
        layer_cfg=dict(
            _delete_=True,
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, dropout=0.1,
                               batch_first=True),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, dropout=0.1,
                                batch_first=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=ffn_dims, num_fcs=2,
                         ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True)))),
    bbox_head=dict(
        _delete_=True,
        type='DETRHead',
        num_classes=20,
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
            ])))
