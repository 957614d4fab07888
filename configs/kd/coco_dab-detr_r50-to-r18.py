# KD-DETR on COCO 2017 with the paper's recipe (Wang et al., CVPR 2024): a DAB-DETR R50
# teacher distils a DAB-DETR R18 student (same transformer, embed dims 256, 300 queries)
# through 300 random anchor boxes per image plus the teacher's 300 learned anchors; KL at
# T = 10, L1 5, GIoU 2 on every student decoder layer; the student's own loss unchanged.
# 50 epochs, lr step at 40: data, schedule and runtime of mmdet's DAB-DETR config (8 GPUs x
# 2 images); lr 2e-4 as the KD-DETR reference code (mmdet's config: 1e-4).
#
# The teacher checkpoint is yours to provide: train mmdet's
# configs/dab_detr/dab-detr_r50_8xb2-50e_coco.py (mmdet's tools/train.py writes
# work_dirs/dab-detr_r50_8xb2-50e_coco/epoch_50.pth, the path below) or point elsewhere with
#   --cfg-options model.teacher.checkpoint=/path/to/dab-detr_r50.pth
# ResNets start from torchvision's ImageNet weights (torchvision://resnet{50,18}); offline,
# give local files: --cfg-options model.student.backbone.init_cfg.checkpoint=/path/r18.pth
_base_ = 'mmdet::dab_detr/dab-detr_r50_8xb2-50e_coco.py'
import copy

from mmengine.hub import get_config

from mmka.datasets import DATASET_CLASSES

custom_imports = dict(imports=['mmka'], allow_failed_imports=False)

teacher_model = get_config('mmdet::dab_detr/dab-detr_r50_8xb2-50e_coco.py').model.to_dict()
teacher_checkpoint = 'work_dirs/dab-detr_r50_8xb2-50e_coco/epoch_50.pth'

student = copy.deepcopy(teacher_model)
student['backbone'].update(
    depth=18, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18'))
student['neck']['in_channels'] = [512]

model = dict(
    _delete_=True,
    type='KDDETRDistiller',
    student=student,
    teacher=dict(config=dict(model=teacher_model), checkpoint=teacher_checkpoint,
                 classes=DATASET_CLASSES['coco']),
    classes=DATASET_CLASSES['coco'],
    points=dict(num_general=300, specific=True),
    loss=dict(type='KDDETRLoss', temperature=10.0, cls_weight=1.0, l1_weight=5.0,
              giou_weight=2.0, aux_layers=True),
    gt_loss_weight=1.0)

optim_wrapper = dict(optimizer=dict(lr=2e-4))
