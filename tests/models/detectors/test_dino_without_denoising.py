import copy

import torch

from mmdet.registry import MODELS
from .dino_setup import batch, tiny_dino_cfg


def pair():
    """DINOAnyDim and DINOWithoutDenoising with the same weights, in training mode."""
    torch.manual_seed(0)
    with_dn = MODELS.build(tiny_dino_cfg())
    with_dn.init_weights()
    without = MODELS.build(tiny_dino_cfg(kind='DINOWithoutDenoising'))
    without.load_state_dict(with_dn.state_dict())
    return with_dn, without


def test_training_has_no_denoising_losses_and_the_same_matching_losses():
    """The denoising queries are masked from the detection queries in DINO's decoder, so
    dropping them leaves every other loss exactly as it was (dropout is 0 here)."""
    with_dn, without = pair()
    imgs, samples = batch()
    ref = with_dn.loss(imgs, copy.deepcopy(samples))
    losses = without.loss(imgs, copy.deepcopy(samples))
    assert any(key.startswith('dn_') for key in ref)
    assert set(losses) == {key for key in ref if 'dn_' not in key}
    for key, value in losses.items():
        torch.testing.assert_close(value, ref[key], rtol=1e-5, atol=1e-6, msg=key)


def test_backward_reaches_every_parameter():
    """DDP needs a gradient for each parameter, the unused label embedding included."""
    _, without = pair()
    imgs, samples = batch()
    losses = without.loss(imgs, samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    missing = [name for name, p in without.named_parameters()
               if p.requires_grad and p.grad is None]
    assert missing == []
    assert torch.count_nonzero(without.dn_query_generator.label_embedding.weight.grad) == 0


def test_inference_equals_dino():
    with_dn, without = pair()
    with_dn.eval(), without.eval()
    imgs, samples = batch()
    with torch.no_grad():
        a = with_dn.forward(imgs, copy.deepcopy(samples), mode='tensor')
        b = without.forward(imgs, copy.deepcopy(samples), mode='tensor')
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
