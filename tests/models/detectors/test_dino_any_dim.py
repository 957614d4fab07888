import copy

import pytest
import torch

from mmdet.registry import MODELS
from .dino_setup import batch, tiny_dino_cfg


@pytest.mark.parametrize('embed_dims', [32, 128])
def test_any_dim_trains_and_predicts(embed_dims):
    model = MODELS.build(tiny_dino_cfg(embed_dims))
    model.init_weights()
    imgs, samples = batch()
    losses = model.loss(imgs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.decoder.ref_point_head.layers[0].weight.grad is not None
    model.eval()
    with torch.no_grad():
        results = model.predict(imgs, samples)
    assert results[0].pred_instances.bboxes.shape == (5, 4)


def test_mmdet_dino_fails_below_256_dims():
    """The bug being fixed: mmdet's own DINO crashes at 32 dims."""
    model = MODELS.build(tiny_dino_cfg(32, kind='DINO'))
    imgs, samples = batch()
    with pytest.raises(RuntimeError):
        model.loss(imgs, samples)


def test_equals_mmdet_dino_at_256_dims():
    ours = MODELS.build(tiny_dino_cfg(256))
    ours.init_weights()
    ref = MODELS.build(tiny_dino_cfg(256, kind='DINO'))
    ref.load_state_dict(ours.state_dict())
    ours.eval(), ref.eval()
    imgs, samples = batch()
    with torch.no_grad():
        a = ours.forward(imgs, copy.deepcopy(samples), mode='tensor')
        b = ref.forward(imgs, copy.deepcopy(samples), mode='tensor')
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
