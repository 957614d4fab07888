"""Tiny DETR / Conditional DETR / DAB-DETR / Deformable DETR / DINO teachers and students
for the KD-DETR tests."""
import copy
import os.path as osp

import torch
from mmengine.config import Config

from mmdet.registry import MODELS

from ...conftest import REPO
from ..detectors.dino_setup import tiny_dino_cfg
from .tiny_setup import CLASSES

BASELINES = {
    family: osp.join(REPO, f'configs/baselines/{name}_r18tiny_1xb16-30e_shapes.py')
    for family, name in (('detr', 'detr'), ('conditional_detr', 'conditional-detr'),
                         ('dab_detr', 'dab-detr'))}
FAMILIES = tuple(BASELINES)


def tiny_cfg(family: str, num_classes: int = len(CLASSES), embed_dims: int = 32,
             enc_layers: int = 1, dec_layers: int = 2, base_channels: int = 8,
             num_queries: int = 8) -> dict:
    """The embedded baseline of ``family`` shrunk to a few thousand parameters."""
    cfg = copy.deepcopy(Config.fromfile(BASELINES[family]).model)
    cfg.num_queries = num_queries
    cfg.backbone.base_channels = base_channels
    cfg.neck.in_channels = [base_channels * 4]
    cfg.neck.out_channels = embed_dims
    cfg.positional_encoding.num_feats = embed_dims // 2
    cfg.bbox_head.embed_dims = embed_dims
    cfg.bbox_head.num_classes = num_classes
    cfg.encoder.num_layers = enc_layers
    cfg.decoder.num_layers = dec_layers
    for part in (cfg.encoder.layer_cfg, cfg.decoder.layer_cfg):
        for key in ('self_attn_cfg', 'cross_attn_cfg', 'ffn_cfg'):
            if key in part:
                part[key].embed_dims = embed_dims
                if 'feedforward_channels' in part[key]:
                    part[key].feedforward_channels = 64
    cfg.test_cfg.max_per_img = num_queries
    return cfg.to_dict()


def save_model(path, cfg: dict, seed: int, classes=CLASSES) -> dict:
    """Build ``cfg`` with random weights (seeded), save it; return its teacher entry.

    Every weight is jittered after ``init_weights``: like a trained teacher, and unlike a
    fresh one, its box regression is not exactly zero (DAB-DETR's is zero-initialised).
    """
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))  # mmdet's DETRHead writes into its config
    model.init_weights()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(path))
    return dict(config=dict(model=cfg), checkpoint=str(path), classes=tuple(classes))


def build_kd(teacher: dict, student: dict, **kwargs):
    """A KDDETRDistiller with few points (the student initialised, as the Runner does)."""
    cfg = dict(type='KDDETRDistiller', student=student, teacher=teacher,
               points=dict(num_general=5))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def tiny_dino(num_classes: int = len(CLASSES), embed_dims: int = 32, enc_layers: int = 1,
              dec_layers: int = 2, base_channels: int = 16, num_queries: int = 5) -> dict:
    """:func:`tiny_dino_cfg` (a ``DINOAnyDim``, 3 levels) with the KD tests' classes and
    the sizes of :func:`tiny_cfg`."""
    cfg = tiny_dino_cfg(embed_dims, num_classes, num_queries)
    cfg['backbone']['base_channels'] = base_channels
    cfg['neck']['in_channels'] = [base_channels * 2, base_channels * 4]
    cfg['encoder']['num_layers'] = enc_layers
    cfg['decoder']['num_layers'] = dec_layers
    return cfg


def tiny_deformable(as_two_stage: bool, with_box_refine: bool, **kwargs) -> dict:
    """The same tiny model as mmdet's ``DeformableDETR``. Two-stage needs embed_dims=256
    (mmdet 3.3's proposal embedding is 4·128 wide)."""
    cfg = tiny_dino(**kwargs)
    del cfg['dn_cfg']
    cfg.update(type='DeformableDETR', as_two_stage=as_two_stage,
               with_box_refine=with_box_refine)
    cfg['bbox_head']['type'] = 'DeformableDETRHead'
    return cfg


#: Tiny models of the box families: DINO, and Deformable DETR single-stage (with and without
#: box refinement) and two-stage.
BOX_KINDS = ('dino', 'deformable', 'deformable_refine', 'deformable_two_stage')


def tiny_box_cfg(kind: str, **kwargs) -> dict:
    """The tiny model of ``kind`` (one of :data:`BOX_KINDS`)."""
    if kind == 'dino':
        return tiny_dino(**kwargs)
    if kind == 'deformable_two_stage':
        return tiny_deformable(True, True, **dict(dict(embed_dims=256), **kwargs))
    return tiny_deformable(False, kind == 'deformable_refine', **kwargs)
