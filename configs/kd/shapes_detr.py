# KD-DETR on the embedded shapes data, DETR: shapes_conditional-detr.py with the tiny
# DETR baseline as teacher and the same reduction of it as student (ResNet-18
# base_channels 16, 1 encoder / 2 decoder layers, embed dims 128).
# Vanilla DETR learns the embedded data much more slowly than Conditional DETR (DESIGN.md §4);
# this config exists to run KD-DETR on every supported family.
# The teacher checkpoint is yours to train first:
#   python tools/train.py configs/baselines/detr_r18tiny_1xb16-30e_shapes.py
# or point elsewhere with --cfg-options model.teacher.checkpoint=/path/to/teacher.pth.
_base_ = './shapes_conditional-detr.py'
from mmka.utils import load_model_cfg

teacher_config = 'configs/baselines/detr_r18tiny_1xb16-30e_shapes.py'
teacher_checkpoint = 'work_dirs/detr_r18tiny_1xb16-30e_shapes/epoch_30.pth'
smaller = {'backbone.base_channels': 16, 'neck.in_channels': [64], 'encoder.num_layers': 1,
           'decoder.num_layers': 2}

model = dict(
    student=dict(
        _delete_=True,
        **load_model_cfg('{{ fileDirname }}/../baselines/detr_r18tiny_1xb16-30e_shapes.py',
                         smaller)),
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint))
