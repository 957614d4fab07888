"""Tiny multi-scale detectors (DINO, Deformable DETR) and batches for the tests."""
import copy

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from ...conftest import REPO

DINO_BASE = f'{REPO}/configs/_base_/models/dino_r18tiny.py'


def tiny_dino_cfg(embed_dims: int = 32, num_classes: int = 4, num_queries: int = 5,
                  kind: str = 'DINOAnyDim') -> dict:
    """The embedded tiny DINO (3 levels, strides 8 / 16 / 32) shrunk to ``embed_dims``
    (2 heads, FFN 2·dims, 16 base channels), 1 encoder / 2 decoder layers, dropout 0."""
    cfg = copy.deepcopy(Config.fromfile(DINO_BASE).model)
    cfg.type = kind
    cfg.num_queries = num_queries
    cfg.backbone.base_channels = 16
    cfg.neck.in_channels = [32, 64]
    cfg.neck.out_channels = embed_dims
    cfg.neck.norm_cfg = dict(type='GN', num_groups=8)
    cfg.encoder.num_layers = 1
    cfg.decoder.num_layers = 2
    for part in (cfg.encoder.layer_cfg, cfg.decoder.layer_cfg):
        for name in ('self_attn_cfg', 'cross_attn_cfg'):
            if name in part:
                part[name].update(embed_dims=embed_dims, num_heads=2)
        part.ffn_cfg.update(embed_dims=embed_dims, feedforward_channels=2 * embed_dims)
    cfg.positional_encoding.num_feats = embed_dims // 2
    cfg.bbox_head.update(num_classes=num_classes, embed_dims=embed_dims)
    cfg.dn_cfg.group_cfg.num_dn_queries = 6
    cfg.test_cfg.max_per_img = num_queries
    return cfg.to_dict()


def batch(num_images: int = 2, size=(64, 64), num_gt: int = 3, num_classes: int = 4,
          seed: int = 0, padded: bool = False):
    """Random images (B, 3, H, W) and data samples with boxes; ``padded`` gives the second
    image a smaller valid region (as a batch of images of different sizes)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    imgs = torch.rand(num_images, 3, h, w, generator=g) * 255
    samples = []
    for i in range(num_images):
        ih, iw = (h - 16, w - 24) if padded and i % 2 else (h, w)
        s = DetDataSample(metainfo=dict(img_shape=(ih, iw), ori_shape=(ih, iw),
                                        batch_input_shape=(h, w), pad_shape=(h, w),
                                        scale_factor=(1., 1.)))
        xy = torch.rand(num_gt, 2, generator=g) * torch.tensor([iw, ih]) / 2
        wh = torch.rand(num_gt, 2, generator=g) * torch.tensor([iw, ih]) / 3 + 4
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, num_classes, (num_gt, ), generator=g))
        samples.append(s)
    return imgs, samples


def save_dino_teacher(path, classes, seed: int, embed_dims: int = 32) -> dict:
    """A randomly initialised tiny DINO teacher saved at ``path``; its teacher entry."""
    torch.manual_seed(seed)
    cfg = tiny_dino_cfg(embed_dims, num_classes=len(classes))
    model = MODELS.build(copy.deepcopy(cfg))  # mmdet's DINO writes into its config
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(path))
    return dict(config=dict(model=cfg), checkpoint=str(path), classes=tuple(classes))


def tiny_dino_ka_model(model: dict, teachers: list, embed_dims: int = 32) -> dict:
    """An amalgamation config's ``model`` made tiny: the tiny DINO student of the same kind
    (an extended student with the config's type and compression and one segment per
    teacher, or the config's plain DINO, e.g. SAG's) over the config's classes, the given
    (tiny, random) ``teachers``, and Hungarian TA targets that admit their predictions
    (random teachers are never confident). Everything else (hooks, weights) is the config's.
    """
    model = copy.deepcopy(dict(model))
    student = dict(model['student'])
    tiny = tiny_dino_cfg(embed_dims, num_classes=len(model['classes']))
    if student['type'] != tiny['type']:  # an extended student
        tiny.update(type=student['type'], num_teachers=len(teachers))
        if student.get('compression'):
            tiny['compression'] = dict(student['compression'])
    hooks = [dict(h) for h in model['hooks']]
    for hook in hooks:
        if hook['type'] == 'TaskAmalgamation':
            hook['targets'] = dict(hook.get('targets') or {}, score_thr=0.0, max_targets=8)
    model.update(student=tiny, teachers=teachers, hooks=hooks)
    return model
