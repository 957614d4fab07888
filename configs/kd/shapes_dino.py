# KD-DETR on the embedded shapes data, DINO: the tiny DINO Raw baseline (ResNet-18
# base_channels 32, 3 feature levels, 2 encoder / 3 decoder layers, embed dims 128, 30
# queries) teaches a smaller student with the same embed dims and queries (ResNet-18
# base_channels 16, 1 encoder / 2 decoder layers) on all 20 classes. Distillation points are
# reference boxes: 30 random boxes per image (centres uniform, widths and heights
# log-uniform in [1/32, 1]) and the teacher's 30 top-k encoder proposals of the batch (its
# detection boxes' starting points), decoded by both models in decoder calls of their own,
# without denoising queries; the student keeps its denoising queries for its own loss.
# The teacher checkpoint is yours to train first:
#   python tools/train.py configs/baselines/dino_r18tiny_1xb16-12e_shapes.py
# or point elsewhere with --cfg-options model.teacher.checkpoint=/path/to/teacher.pth.
# Data, schedule (12 epochs, lr 5e-4, step at 10) and runtime are the baseline's: the
# student trained alone on the same schedule is the comparison.
_base_ = '../baselines/dino_r18tiny_1xb16-12e_shapes.py'
from mmka.datasets import SHAPE_CLASSES
from mmka.utils import load_model_cfg

teacher_config = 'configs/baselines/dino_r18tiny_1xb16-12e_shapes.py'
teacher_checkpoint = 'work_dirs/dino_r18tiny_1xb16-12e_shapes/epoch_12.pth'

# The student: the teacher's architecture at stage widths 16/32/64 (instead of 32/64/128)
# with 1 encoder / 2 decoder layers (instead of 2 / 3); embed dims (128) and the number of
# queries (30: the specific points pair with each model's content query of the same rank)
# stay.
smaller = {'backbone.base_channels': 16, 'neck.in_channels': [32, 64], 'encoder.num_layers': 1,
           'decoder.num_layers': 2}
student = load_model_cfg('{{ fileDirname }}/../baselines/dino_r18tiny_1xb16-12e_shapes.py',
                         smaller)

model = dict(
    _delete_=True,
    type='KDDETRDistiller',
    student=student,
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    classes=SHAPE_CLASSES,
    points=dict(num_general=30, specific=True, box_sizes=(1 / 32, 1.0)),
    loss=dict(type='KDDETRLoss', temperature=10.0, cls_weight=1.0, l1_weight=5.0,
              giou_weight=2.0, aux_layers=True),
    gt_loss_weight=1.0)
