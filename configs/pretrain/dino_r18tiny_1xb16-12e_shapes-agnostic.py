# Class-agnostic pre-training of the tiny DINO on shapes images that the benchmark's teachers
# and students never see: every object is one class, 'shape', so the model learns where
# objects are, not what they are. It stands in for the UP-DETR pre-training that the paper
# gives its teachers and not its students (paper §IV-A2; ../shared/seeds/authors_code.md).
# The teachers of `benchmarks/reproduce_table1.py --family dino --teacher-init pretrained`
# fine-tune from this model (`load_from`; the 1-class heads are not loaded). Data (other
# images: generator seed 1, the benchmark's seed-0 data stays unseen):
#   python tools/misc/generate_shapes.py data/shapes_pretrain --seed 1 --class-agnostic
_base_ = '../baselines/dino_r18tiny_1xb16-12e_shapes.py'

data_root = 'data/shapes_pretrain/'
metainfo = dict(classes=('shape', ))
model = dict(bbox_head=dict(num_classes=1))
train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train_agnostic.json'))
val_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val_agnostic.json'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val_agnostic.json')
test_evaluator = val_evaluator
