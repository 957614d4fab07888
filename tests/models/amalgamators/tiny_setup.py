"""Tiny teachers and students (embed dims 32, one encoder / two decoder layers) on disk."""
import copy

import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from mmka.datasets import get_partition

from ...conftest import SHAPES_BASELINE

T1, T2 = get_partition('shapes_2t')
CLASSES = T1 + T2


def tiny_model_cfg(num_classes: int, embed_dims: int = 32, enc_layers: int = 1) -> dict:
    cfg = copy.deepcopy(Config.fromfile(SHAPES_BASELINE).model)
    cfg.num_queries = 8
    cfg.backbone.depth = 18
    cfg.backbone.base_channels = 8
    cfg.neck.in_channels = [32]
    cfg.neck.out_channels = embed_dims
    cfg.positional_encoding.num_feats = embed_dims // 2
    cfg.bbox_head.embed_dims = embed_dims
    cfg.bbox_head.num_classes = num_classes
    cfg.encoder.num_layers = enc_layers
    cfg.decoder.num_layers = 2
    for part in (cfg.encoder.layer_cfg, cfg.decoder.layer_cfg):
        for key in ('self_attn_cfg', 'cross_attn_cfg', 'ffn_cfg'):
            if key in part:
                part[key].embed_dims = embed_dims
                if 'feedforward_channels' in part[key]:
                    part[key].feedforward_channels = 64
    return cfg.to_dict()


def save_teacher(path, classes, seed: int, **kwargs) -> dict:
    """Build a randomly initialised tiny teacher, save it, return its teacher entry."""
    torch.manual_seed(seed)
    cfg = tiny_model_cfg(len(classes), **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(path))
    return dict(config=dict(model=cfg), checkpoint=str(path), classes=tuple(classes))


def student_cfg(num_teachers: int = 2, compression=None, **kwargs) -> dict:
    cfg = tiny_model_cfg(len(CLASSES), **kwargs)
    cfg.update(type='KAConditionalDETRStudent', num_teachers=num_teachers,
               compression=compression)
    return cfg


def batch(sizes=((64, 64), (48, 56)), num_gt=3, seed=0):
    """Padded batch of two images of different sizes, with random ground truth."""
    g = torch.Generator().manual_seed(seed)
    pad_h, pad_w = max(s[0] for s in sizes), max(s[1] for s in sizes)
    inputs = torch.zeros(len(sizes), 3, pad_h, pad_w)
    samples = []
    for i, (h, w) in enumerate(sizes):
        inputs[i, :, :h, :w] = torch.rand(3, h, w, generator=g) * 2 - 1
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             batch_input_shape=(pad_h, pad_w),
                                             pad_shape=(pad_h, pad_w), scale_factor=(1., 1.)))
        xy = torch.rand(num_gt, 2, generator=g) * min(h, w) / 2
        wh = torch.rand(num_gt, 2, generator=g) * min(h, w) / 3 + 4
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, len(CLASSES), (num_gt, ), generator=g))
        samples.append(sample)
    return inputs, samples
