"""Pre-norm DETR layers: norm-first arithmetic (against hand-written formulas), padding, the
encoder's and decoder's final norms."""
import pytest
import torch
import torch.nn.functional as F

from mmdet.models.layers import DetrTransformerDecoderLayer, DetrTransformerEncoderLayer
from mmdet.registry import MODELS
from mmka.models.layers import (PreNormDetrTransformerDecoder,
                                PreNormDetrTransformerDecoderLayer,
                                PreNormDetrTransformerEncoder,
                                PreNormDetrTransformerEncoderLayer)

DIMS, HEADS, B, N, Q = 16, 2, 2, 6, 3


def _attn():
    return dict(embed_dims=DIMS, num_heads=HEADS, dropout=0.)


def _ffn():
    return dict(embed_dims=DIMS, feedforward_channels=24, num_fcs=2, ffn_drop=0.)


def _layer_cfg(decoder):
    cfg = dict(self_attn_cfg=_attn(), ffn_cfg=_ffn())
    if decoder:
        cfg['cross_attn_cfg'] = _attn()
    return cfg


def _random(module, seed=0):
    """``module`` in eval mode with every parameter (LayerNorm affines too) jittered."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    return module.eval()


def _inputs(seed=0):
    """x (B, N, C), pos (B, N, C), memory (B, N, C) and a (B, N) padding mask (image 1 has
    its last two tokens padded); queries (B, Q, C) and their positions."""
    g = torch.Generator().manual_seed(seed)
    x, pos, memory = (torch.randn(B, N, DIMS, generator=g) for _ in range(3))
    query, query_pos = (torch.randn(B, Q, DIMS, generator=g) for _ in range(2))
    mask = torch.zeros(B, N, dtype=torch.bool)
    mask[1, -2:] = True
    return x, pos, memory, mask, query, query_pos


def _mha(attn, q, k, v, mask=None):
    """The wrapped nn.MultiheadAttention, called sequence-first as DETR does."""
    out = attn.attn(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                    key_padding_mask=mask)[0]
    return out.transpose(0, 1)


def _ffn_ref(ffn, x):
    return ffn.layers[1](F.relu(ffn.layers[0][0](x)))  # linear2(relu(linear1(x)))


def _encoder_ref(layer, x, pos, mask):
    """DETR TransformerEncoderLayer.forward_pre."""
    n = layer.norms[0](x)
    x = x + _mha(layer.self_attn, n + pos, n + pos, n, mask)
    return x + _ffn_ref(layer.ffn, layer.norms[1](x))


def _decoder_ref(layer, q, q_pos, memory, pos, mask):
    """DETR TransformerDecoderLayer.forward_pre (memory not normalised)."""
    n = layer.norms[0](q)
    q = q + _mha(layer.self_attn, n + q_pos, n + q_pos, n)
    q = q + _mha(layer.cross_attn, layer.norms[1](q) + q_pos, memory + pos, memory, mask)
    return q + _ffn_ref(layer.ffn, layer.norms[2](q))


def test_encoder_layer_is_norm_first():
    layer = _random(PreNormDetrTransformerEncoderLayer(**_layer_cfg(False)))
    x, pos, _, mask, _, _ = _inputs()
    with torch.no_grad():
        out = layer(x, pos, mask)
        torch.testing.assert_close(out, _encoder_ref(layer, x, pos, mask))
        # Same weights, mmdet's post-norm order: a different function.
        post = DetrTransformerEncoderLayer.forward(layer, x, pos, mask)
    assert not torch.allclose(out, post, atol=1e-2)


def test_decoder_layer_is_norm_first():
    layer = _random(PreNormDetrTransformerDecoderLayer(**_layer_cfg(True)))
    _, pos, memory, mask, query, query_pos = _inputs()
    kwargs = dict(key=memory, value=memory, query_pos=query_pos, key_pos=pos,
                  key_padding_mask=mask)
    with torch.no_grad():
        out = layer(query, **kwargs)
        torch.testing.assert_close(out, _decoder_ref(layer, query, query_pos, memory, pos, mask))
        post = DetrTransformerDecoderLayer.forward(layer, query, **kwargs)
    assert not torch.allclose(out, post, atol=1e-2)


def test_padding_is_ignored():
    """Changing padded tokens changes no valid encoder output and no decoder output."""
    encoder = _random(PreNormDetrTransformerEncoder(num_layers=2, layer_cfg=_layer_cfg(False)))
    decoder = _random(PreNormDetrTransformerDecoder(num_layers=2, layer_cfg=_layer_cfg(True)))
    x, pos, _, mask, query, query_pos = _inputs()
    x_junk = x.masked_fill(mask.unsqueeze(-1), 1e3)
    with torch.no_grad():
        outs = []
        for feat in (x, x_junk):
            memory = encoder(query=feat, query_pos=pos, key_padding_mask=mask)
            outs.append((memory, decoder(query=query, key=memory, value=memory,
                                         query_pos=query_pos, key_pos=pos,
                                         key_padding_mask=mask)))
    (mem, dec), (mem_junk, dec_junk) = outs
    valid = ~mask
    torch.testing.assert_close(mem_junk[valid], mem[valid])
    assert not torch.allclose(mem_junk[mask], mem[mask])
    torch.testing.assert_close(dec_junk, dec)


def test_final_norms():
    """Encoder: post_norm after the last layer only; decoder: post_norm on every
    intermediate output (DETR's decoder norm)."""
    encoder = _random(PreNormDetrTransformerEncoder(num_layers=2, layer_cfg=_layer_cfg(False)))
    decoder = _random(PreNormDetrTransformerDecoder(num_layers=2, layer_cfg=_layer_cfg(True)))
    x, pos, memory, mask, query, query_pos = _inputs()
    with torch.no_grad():
        expected = x
        for layer in encoder.layers:
            expected = _encoder_ref(layer, expected, pos, mask)
        torch.testing.assert_close(encoder(query=x, query_pos=pos, key_padding_mask=mask),
                                   encoder.post_norm(expected))
        q, expected = query, []
        for layer in decoder.layers:
            q = _decoder_ref(layer, q, query_pos, memory, pos, mask)
            expected.append(decoder.post_norm(q))
        out = decoder(query=query, key=memory, value=memory, query_pos=query_pos, key_pos=pos,
                      key_padding_mask=mask)
    assert out.shape == (2, B, Q, DIMS)
    torch.testing.assert_close(out, torch.stack(expected))


def test_registered_and_checkpointing_refused():
    encoder = MODELS.build(dict(type='PreNormDetrTransformerEncoder', num_layers=1,
                                layer_cfg=_layer_cfg(False)))
    assert isinstance(encoder.layers[0], PreNormDetrTransformerEncoderLayer)
    assert set(encoder.state_dict()) >= {'post_norm.weight', 'post_norm.bias'}
    with pytest.raises(ValueError, match='num_cp=1'):
        PreNormDetrTransformerEncoder(num_layers=1, layer_cfg=_layer_cfg(False), num_cp=1)
