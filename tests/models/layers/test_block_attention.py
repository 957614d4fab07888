"""Block-diagonal encoder attention (paper eqs. 3-4) against a per-segment loop."""
import pytest
import torch

from mmdet.models.layers import DetrTransformerEncoder
from mmka.models.layers import (block_diagonal_mask, block_encoder_forward, fold_segments,
                                unfold_segments)

N, n, DIMS = 3, 7, 16


def _encoder():
    torch.manual_seed(0)
    return DetrTransformerEncoder(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=DIMS, num_heads=2, dropout=0.),
            ffn_cfg=dict(embed_dims=DIMS, feedforward_channels=32, ffn_drop=0.)))


def _inputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, N * n, DIMS, generator=g, requires_grad=True)
    pos = torch.randn(2, n, DIMS, generator=g).repeat(1, N, 1)
    mask = torch.zeros(2, n, dtype=torch.bool)
    mask[1, 5:] = True  # the second image is padded
    return x, pos, mask.repeat(1, N)


def _per_segment_loop(encoder, x, pos, mask):
    """Reference: every segment through the encoder on its own, then concatenated."""
    outs = [encoder(query=x[:, t * n:(t + 1) * n], query_pos=pos[:, t * n:(t + 1) * n],
                    key_padding_mask=mask[:, t * n:(t + 1) * n]) for t in range(N)]
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize('mode', ['folded', 'masked'])
def test_block_attention_equals_per_segment_loop(mode):
    encoder = _encoder()
    x, pos, mask = _inputs()
    ref = _per_segment_loop(encoder, x, pos, mask)
    ref_grad = torch.autograd.grad(ref.square().sum(), x)[0]
    out = block_encoder_forward(encoder, x, pos, mask, N, mode)
    grad = torch.autograd.grad(out.square().sum(), x)[0]
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad, ref_grad, atol=1e-5, rtol=1e-5)


def test_full_attention_is_not_block_attention():
    """Control: without the block structure segments mix, so the comparison above can fail."""
    encoder = _encoder()
    x, pos, mask = _inputs()
    full = encoder(query=x, query_pos=pos, key_padding_mask=mask)
    assert not torch.allclose(full, _per_segment_loop(encoder, x, pos, mask), atol=1e-3)


def test_fold_round_trip_and_mask_layout():
    x = torch.arange(2 * N * n).reshape(2, N * n)
    folded = fold_segments(x, N)
    assert folded.shape == (2 * N, n)
    assert torch.equal(folded[1 * N + 2], x[1, 2 * n:3 * n])  # row b·N + t = segment t of b
    assert torch.equal(unfold_segments(folded, N), x)
    mask = block_diagonal_mask(N, n)
    assert mask.shape == (N * n, N * n)
    assert not mask[n:2 * n, n:2 * n].any() and mask[:n, n:].all()
