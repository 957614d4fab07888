# COCO 2017 with mmdet's standard layout (data/coco/), max image side 1000 (paper §IV-A2).
_base_ = 'mmdet::_base_/datasets/coco_detection.py'
dataset_type = 'CocoSubsetDataset'
max_side = 1000
short_sides = [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800]

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=[(s, max_side) for s in short_sides],
                  keep_ratio=True)],
            [dict(type='RandomChoiceResize', scales=[(400, max_side), (500, max_side),
                                                     (600, max_side)], keep_ratio=True),
             dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                  allow_negative_crop=True),
             dict(type='RandomChoiceResize', scales=[(s, max_side) for s in short_sides],
                  keep_ratio=True)],
        ]),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(max_side, short_sides[-1]), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8, num_workers=4,
    dataset=dict(type=dataset_type, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, pipeline=test_pipeline))
test_dataloader = val_dataloader
