import copy

import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from ...conftest import SHAPES_BASELINE


def _inputs(batch=2, size=64, num_gt=3, num_classes=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(batch, 3, size, size, generator=g) * 255
    samples = []
    for _ in range(batch):
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        batch_input_shape=(size, size),
                                        pad_shape=(size, size), scale_factor=(1., 1.)))
        xy = torch.rand(num_gt, 2, generator=g) * size / 2
        wh = torch.rand(num_gt, 2, generator=g) * size / 2 + 4
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, num_classes, (num_gt, ), generator=g))
        samples.append(s)
    return imgs, samples


def _tiny_model_cfg(embed_dims):
    cfg = copy.deepcopy(Config.fromfile(SHAPES_BASELINE).model)
    cfg.neck.out_channels = embed_dims
    cfg.positional_encoding.num_feats = embed_dims // 2
    cfg.bbox_head.embed_dims = embed_dims
    for part in (cfg.encoder.layer_cfg, cfg.decoder.layer_cfg):
        for attn in ('self_attn_cfg', 'cross_attn_cfg', 'ffn_cfg'):
            if attn in part:
                part[attn].embed_dims = embed_dims
    return cfg


@pytest.mark.parametrize('embed_dims', [32, 64, 128])
def test_any_dim_trains_and_predicts(embed_dims):
    model = MODELS.build(_tiny_model_cfg(embed_dims))
    model.init_weights()
    imgs, samples = _inputs()
    losses = model.loss(imgs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.decoder.ref_point_head.layers[0].weight.grad is not None
    model.eval()
    with torch.no_grad():
        results = model.predict(imgs, samples)
    assert results[0].pred_instances.bboxes.shape == (30, 4)


def test_mmdet_conditional_detr_fails_below_256_dims():
    """The bug being fixed: mmdet's own ConditionalDETR crashes at 64 dims."""
    cfg = _tiny_model_cfg(64)
    cfg.type = 'ConditionalDETR'
    model = MODELS.build(cfg)
    imgs, samples = _inputs()
    with pytest.raises(RuntimeError):
        model.loss(imgs, samples)


def test_equals_mmdet_conditional_detr_at_256_dims():
    cfg = _tiny_model_cfg(256)
    ours = MODELS.build(cfg)
    ours.init_weights()
    cfg.type = 'ConditionalDETR'
    ref = MODELS.build(cfg)
    ref.load_state_dict(ours.state_dict())
    ours.eval(), ref.eval()
    imgs, samples = _inputs()
    with torch.no_grad():
        a = ours.predict(imgs, copy.deepcopy(samples))
        b = ref.predict(imgs, copy.deepcopy(samples))
        la = ours.loss(imgs, copy.deepcopy(samples))
        lb = ref.loss(imgs, copy.deepcopy(samples))
    for x, y in zip(a, b):
        torch.testing.assert_close(x.pred_instances.bboxes, y.pred_instances.bboxes)
        torch.testing.assert_close(x.pred_instances.scores, y.pred_instances.scores)
    for k in lb:
        torch.testing.assert_close(la[k], lb[k])
