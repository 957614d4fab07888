# KD-DETR (Wang et al., CVPR 2024) on the embedded shapes data, Conditional DETR:
# the Raw baseline (ResNet-18 base_channels 32, 2 encoder / 3 decoder layers, embed
# dims 128) teaches a smaller student with the same embed dims (ResNet-18 base_channels 16,
# 1 encoder / 2 decoder layers) on all 20 classes, through 30 random distillation points
# per image and the teacher's 30 learned queries (the reference code draws as many general
# points as the model has queries, 300 for 300; here 30 for 30, which also keeps the
# decoder work of a step at 2x detection + distillation instead of 11x).
# The teacher checkpoint is yours to train first:
#   python tools/train.py configs/baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py
# or point elsewhere with --cfg-options model.teacher.checkpoint=/path/to/teacher.pth.
# Data, schedule and runtime are the baseline's: the student trained alone on the same
# schedule (benchmarks/kd_detr.py) is the comparison.
_base_ = '../baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py'
from mmka.datasets import SHAPE_CLASSES
from mmka.utils import load_model_cfg

teacher_config = 'configs/baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py'
teacher_checkpoint = 'work_dirs/conditional-detr_r18tiny_1xb16-30e_shapes/epoch_30.pth'

# The student: the teacher's architecture at stage widths 16/32/64 (instead of 32/64/128)
# with 1 encoder / 2 decoder layers (instead of 2 / 3); embed dims stay 128.
smaller = {'backbone.base_channels': 16, 'neck.in_channels': [64], 'encoder.num_layers': 1,
           'decoder.num_layers': 2}
student = load_model_cfg(
    '{{ fileDirname }}/../baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py', smaller)

model = dict(
    _delete_=True,
    type='KDDETRDistiller',
    student=student,
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    classes=SHAPE_CLASSES,
    points=dict(num_general=30, specific=True, query_sampling='teacher_stats'),
    loss=dict(type='KDDETRLoss', temperature=10.0, cls_weight=1.0, l1_weight=5.0,
              giou_weight=2.0, aux_layers=True),
    gt_loss_weight=1.0)
