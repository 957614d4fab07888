# PASCAL VOC 07+12 in COCO format: extract VOCtrainval_06-Nov-2007.tar,
# VOCtest_06-Nov-2007.tar and VOCtrainval_11-May-2012.tar into data/, then
#   python tools/dataset_converters/prepare_voc.py data/VOCdevkit
# writes annotations/voc0712_trainval.json (07+12 trainval) and voc07_test.json (07 test),
# as mmdet's own VOC converter would (difficult objects as iscrowd=1, i.e. ignored).
# Max image side 512 (paper §IV-A2).
dataset_type = 'CocoSubsetDataset'
data_root = 'data/VOCdevkit/'
backend_args = None
classes = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
           'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
           'sheep', 'sofa', 'train', 'tvmonitor')
metainfo = dict(classes=classes)
max_side = 512
short_sides = [288, 320, 352, 384, 416, 448, 480]

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=[(s, max_side) for s in short_sides],
                  keep_ratio=True)],
            [dict(type='RandomChoiceResize', scales=[(250, max_side), (300, max_side),
                                                     (350, max_side)], keep_ratio=True),
             dict(type='RandomCrop', crop_type='absolute_range', crop_size=(230, 384),
                  allow_negative_crop=True),
             dict(type='RandomChoiceResize', scales=[(s, max_side) for s in short_sides],
                  keep_ratio=True)],
        ]),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # Test scale of the authors' code: short side 300, max side 512.
    dict(type='Resize', scale=(max_side, 300), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/voc0712_trainval.json',
        data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/voc07_test.json',
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/voc07_test.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
