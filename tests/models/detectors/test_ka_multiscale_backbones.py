"""Multi-scale KA students on other backbones than their teachers' (ResNet-18 and Swin
students under ResNet-50 DINO teachers), and the tiny Deformable DETR shapes configs.

SA compares token sequences: what teachers and student must share is the embed dims and
the levels / strides of the tokens (the neck maps any backbone to them), not the backbone.
"""
import copy

import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from ...conftest import REPO
from ..amalgamators.tiny_setup import CLASSES, T1, T2
from .dino_setup import batch, tiny_dino_cfg

DIMS = 32

# Teachers: a ResNet-50 (bottlenecks, 3 / 4 / 6 blocks) with 16 base channels, strides 8 and
# 16 with 128 / 256 channels, plus the neck's stride-32 level.
R50_TEACHER = dict(backbone=dict(depth=50), neck_in=[128, 256])
# Students: tiny_dino_cfg's ResNet-18 (16 base channels: 32 / 64 channels at strides 8 / 16)
# and a 3-stage Swin whose stages 1 and 2 have the same strides and channels.
STUDENT_BACKBONES = {
    'resnet18': (dict(), [32, 64]),
    'swin': (dict(_delete_=True, type='SwinTransformer', embed_dims=16, depths=(1, 1, 1),
                  num_heads=(1, 2, 4), window_size=4, mlp_ratio=2, strides=(4, 2, 2),
                  patch_size=4, out_indices=(1, 2), drop_path_rate=0.0, init_cfg=None),
             [32, 64]),
}


def _with_backbone(cfg: dict, backbone: dict, neck_in) -> dict:
    cfg = copy.deepcopy(cfg)
    if backbone.get('_delete_'):
        cfg['backbone'] = {k: v for k, v in backbone.items() if k != '_delete_'}
    else:
        cfg['backbone'].update(backbone, init_cfg=None)
    cfg['neck']['in_channels'] = list(neck_in)
    return cfg


@pytest.fixture(scope='module')
def r50_teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('r50_dino_teachers')
    entries = []
    for t, (classes, seed) in enumerate(((T1, 1), (T2, 2)), 1):
        torch.manual_seed(seed)
        cfg = _with_backbone(tiny_dino_cfg(DIMS, num_classes=len(classes)),
                             R50_TEACHER['backbone'], R50_TEACHER['neck_in'])
        model = MODELS.build(copy.deepcopy(cfg))  # mmdet's DINO writes into its config
        model.init_weights()
        path = root / f't{t}.pth'
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(path))
        entries.append(dict(config=dict(model=cfg), checkpoint=str(path),
                            classes=tuple(classes)))
    return entries


@pytest.mark.parametrize('backbone', sorted(STUDENT_BACKBONES))
def test_dino_student_on_another_backbone_amalgamates_r50_teachers(r50_teachers, backbone):
    backbone_cfg, neck_in = STUDENT_BACKBONES[backbone]
    student = dict(_with_backbone(tiny_dino_cfg(DIMS, num_classes=len(CLASSES)), backbone_cfg,
                                  neck_in),
                   type='KADINOStudent', num_teachers=2)
    model = MODELS.build(dict(
        type='KADETRAmalgamator', student=student, teachers=r50_teachers, classes=CLASSES,
        hooks=[dict(type='SequenceAmalgamation'),
               dict(type='TaskAmalgamation', targets=dict(score_thr=0.0))]))
    model.init_weights()
    model.train()
    assert all(t.backbone.depth == 50 for t in model.teacher_list)
    assert type(model.student.backbone).__name__ == \
        {'resnet18': 'ResNet', 'swin': 'SwinTransformer'}[backbone]
    assert getattr(model.student.backbone, 'depth', None) != 50

    losses = model.loss(*batch(padded=True, num_classes=len(CLASSES)))
    assert {'loss_sa_proj', 'loss_sa_enc0', 'loss_ta_cls', 'loss_ta_bbox',
            'gt.loss_cls'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    neck1 = model.student.neck[1]
    assert neck1.convs[0].conv.weight.grad.abs().sum() > 0
    assert neck1.extra_convs[0].conv.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.student.backbone.parameters())
    assert all(p.grad is None for p in model.teachers.parameters())


SHAPES_DEFORMABLE = {
    'raw': 'configs/baselines/deformable-detr_r18tiny_1xb16-12e_shapes.py',
    'rawext2t': 'configs/baselines/ka-deformable-detr_r18tiny_1xb16-12e_shapes-rawext2t.py',
}


@pytest.mark.parametrize('name', sorted(SHAPES_DEFORMABLE))
def test_tiny_deformable_detr_shapes_config_trains_one_step(name):
    cfg = Config.fromfile(f'{REPO}/{SHAPES_DEFORMABLE[name]}').model
    assert cfg.type == ('KADeformableDETRStudent' if name == 'rawext2t' else 'DeformableDETR')
    assert cfg.with_box_refine and not cfg.as_two_stage
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    num_classes = model.bbox_head.num_classes
    losses = model.loss(*batch(padded=True, num_classes=num_classes))
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    necks = model.neck if name == 'rawext2t' else [model.neck]
    for neck in necks:
        assert neck.convs[0].conv.weight.grad.abs().sum() > 0
        assert neck.extra_convs[0].conv.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
