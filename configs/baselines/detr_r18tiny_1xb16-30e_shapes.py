# Raw baseline on the embedded shapes data with the tiny DETR (the teacher of
# configs/kd/shapes_detr.py): the Conditional DETR baseline's data, schedule and runtime.
_base_ = './conditional-detr_r18tiny_1xb16-30e_shapes.py'
from mmka.utils import load_model_cfg

model = dict(
    _delete_=True,
    **load_model_cfg('{{ fileDirname }}/../_base_/models/detr_r18tiny.py'))
