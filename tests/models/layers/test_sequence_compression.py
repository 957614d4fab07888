"""Token redundancy (eq. 8), Algorithm 1 and the other compression strategies."""
import pytest
import torch
import torch.nn.functional as F

from mmdet.models.layers import DetrTransformerEncoder
from mmka.models.layers import (SequenceCompressor, gather_tokens, select_by_redundancy,
                                token_redundancy)


def _brute_force_redundancy(seq, padding_mask):
    """Eq. 8 literally: mean of each row of S = X̂X̂ᵀ over the valid columns."""
    out = torch.empty(seq.shape[:2])
    for b in range(seq.size(0)):
        unit = F.normalize(seq[b], dim=-1)
        sim = unit @ unit.T
        valid = ~padding_mask[b]
        out[b] = sim[:, valid].mean(1)
    return out


def test_redundancy_equals_similarity_matrix_row_mean():
    g = torch.Generator().manual_seed(0)
    seq = torch.randn(2, 10, 6, generator=g)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[1, 7:] = True
    torch.testing.assert_close(token_redundancy(seq, mask), _brute_force_redundancy(seq, mask))
    torch.testing.assert_close(token_redundancy(seq), _brute_force_redundancy(seq, mask & False))


def _hand_made(winners, num_segments, dims=8, seed=0):
    """(1, N·n, dims) tokens where segment ``winners[i]`` is the least redundant at position i.

    Every other token points along e_0 (all similar, redundancy ~ (N-1)/N); the winner at
    position i points along e_{1+i} (similar only to itself). Random positive scales check
    that redundancy ignores token norms.
    """
    n = len(winners)
    g = torch.Generator().manual_seed(seed)
    seq = torch.zeros(num_segments, n, dims)
    seq[..., 0] = 1.
    for i, t in enumerate(winners):
        seq[t, i] = 0.
        seq[t, i, 1 + i] = 1.
    scale = torch.rand(num_segments, n, 1, generator=g) * 10 + 0.1
    return (seq * scale).reshape(1, num_segments * n, dims)


@pytest.mark.parametrize('winners', [[2, 0, 1, 2, 1, 0], [1, 1, 1, 1, 1, 1], [0, 2, 2, 0, 1, 1]])
def test_algorithm1_keeps_least_redundant_segment(winners):
    n, num_segments = len(winners), 3
    kept = select_by_redundancy(_hand_made(winners, num_segments), num_segments)
    expected = torch.tensor(winners) * n + torch.arange(n)
    assert torch.equal(kept, expected[None])


def test_ties_keep_first_segment():
    """Alg. 1 replaces only on a strictly smaller redundancy: equal tokens keep segment 0."""
    seq = torch.randn(1, 4, 5).repeat(1, 3, 1)  # three identical segments
    assert torch.equal(select_by_redundancy(seq, 3), torch.arange(4)[None])


def test_padding_is_excluded_and_keeps_segment_0():
    """Valid tokens: (t=0,i=0)=e1, (1,0)=e2, (0,1)=e1, (1,1)=e1; position 2 is padding with
    e2 tokens. Over valid tokens e2 is rarer, so position 0 keeps segment 1; counting the
    padding would make e1 and e2 tie and keep segment 0."""
    e1, e2 = torch.eye(2)
    seq = torch.stack([e1, e1, e2, e2, e1, e2])[None]  # segment 0 then segment 1, n = 3
    mask = torch.tensor([[False, False, True] * 2])
    assert torch.equal(select_by_redundancy(seq, 2, mask), torch.tensor([[3, 1, 2]]))
    assert select_by_redundancy(seq, 2)[0, 0] == 0  # the same tokens with padding counted


def test_isometric_alternates_segments():
    kept = SequenceCompressor(3, strategy='isometric').select(torch.zeros(2, 21, 4))
    n = 7
    expected = (torch.arange(n) % 3) * n + torch.arange(n)
    assert torch.equal(kept, expected.expand(2, n))


@pytest.mark.parametrize('training', [True, False])
def test_random_gives_one_valid_index_per_position(training):
    num_segments, n = 4, 50
    compressor = SequenceCompressor(num_segments, 'random', seed=3).train(training)
    kept = compressor.select(torch.zeros(3, num_segments * n, 2))
    assert kept.shape == (3, n) and kept.dtype == torch.long
    assert torch.equal(kept % n, torch.arange(n).expand(3, n))
    assert kept.min() >= 0 and kept.max() < num_segments * n
    assert len(torch.unique(kept // n)) > 1  # not a constant choice


@pytest.mark.parametrize('training', [True, False])
def test_random_seed_is_reproducible(training):
    guide = torch.zeros(2, 4 * 30, 2)
    a, b, c = (SequenceCompressor(4, 'random', seed=seed).train(training).select(guide)
               for seed in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_random_default_seed_is_0():
    guide = torch.zeros(2, 4 * 30, 2)
    default, zero = SequenceCompressor(4, 'random'), SequenceCompressor(4, 'random', seed=0)
    assert default.seed == 0 and torch.equal(default.select(guide), zero.select(guide))


def test_random_training_draws_vary_between_steps():
    compressor = SequenceCompressor(4, 'random', seed=5)
    assert compressor.training  # a fresh module trains, as nn.Module does
    guide = torch.zeros(2, 4 * 30, 2)
    first, second = compressor.select(guide), compressor.select(guide)
    assert not torch.equal(first, second)
    again = SequenceCompressor(4, 'random', seed=5)  # the same sequence of draws
    assert torch.equal(again.select(guide), first) and torch.equal(again.select(guide), second)


def test_random_evaluation_ignores_global_rng_and_history():
    """An evaluation keeps the same tokens whatever ran before: global seeds, training
    steps, earlier evaluations."""
    guide = torch.zeros(2, 4 * 30, 2)
    compressor = SequenceCompressor(4, 'random', seed=5).eval()
    torch.manual_seed(1)
    first = compressor.select(guide)
    torch.manual_seed(2)
    torch.rand(100)
    assert torch.equal(compressor.select(guide), first)
    compressor.train()
    for _ in range(3):  # training steps advance only the training generator
        compressor.select(guide)
    compressor.eval()
    assert torch.equal(compressor.select(guide), first)
    state = torch.get_rng_state()
    compressor.select(guide)
    compressor.train().select(guide)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched


def test_random_follows_the_detectors_mode():
    """``train()`` / ``eval()`` of a module holding the compressor reach it."""
    holder = torch.nn.Module()
    holder.compressor = SequenceCompressor(2, 'random')
    assert not holder.eval().compressor.training and holder.train().compressor.training
    assert holder.state_dict() == {}  # nothing in checkpoints


def test_redundancy_strategy_and_half_precision_guide():
    """The compressor runs Alg. 1; a bf16 guide (AMP) gives the same choice."""
    seq = _hand_made([1, 0, 2, 2], 3)
    compressor = SequenceCompressor(3, 'redundancy')
    assert torch.equal(compressor.select(seq), compressor.select(seq.bfloat16()))
    assert torch.equal(compressor.select(seq), torch.tensor([[4, 1, 10, 11]]))


def test_gather_tokens():
    seq = torch.arange(2 * 6 * 3.).reshape(2, 6, 3)
    idx = torch.tensor([[3, 1], [0, 5]])
    out = gather_tokens(seq, idx)
    assert torch.equal(out[0], seq[0, [3, 1]]) and torch.equal(out[1], seq[1, [0, 5]])


def test_full_attention_has_no_mask():
    assert SequenceCompressor(2, 'redundancy').attn_mask(torch.zeros(1, 3).long(), None, 2) is None


def _encoder(dims=16, heads=2):
    torch.manual_seed(0)
    return DetrTransformerEncoder(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=dims, num_heads=heads, dropout=0.),
            ffn_cfg=dict(embed_dims=dims, feedforward_channels=32, ffn_drop=0.))).eval()


def test_grouped_attention_isolates_segments_and_stays_finite():
    """Kept tokens of segment 0 ignore kept tokens of segment 1 under 'grouped' (not under
    'full'); a padding position whose group holds no valid token still gives finite output."""
    n, heads = 6, 2
    kept = torch.tensor([[0, 7, 2, 9, 4, 5]])  # segments 0 1 0 1 0 0; positions 4, 5 padding
    mask = torch.tensor([[False, False, False, False, True, True]])
    encoder = _encoder(heads=heads)
    x, pos = torch.randn(1, n, 16), torch.randn(1, n, 16)
    seg1 = (kept[0] // n) == 1
    x2 = x.clone()
    x2[0, seg1] += 5.
    for attention, isolated in (('grouped', True), ('full', False)):
        attn_mask = SequenceCompressor(2, 'redundancy', attention).attn_mask(kept, mask, heads)
        y, y2 = (encoder(query=q, query_pos=pos, key_padding_mask=mask, attn_mask=attn_mask)
                 for q in (x, x2))
        seg0_valid = ~seg1 & ~mask[0]
        assert torch.allclose(y[0, seg0_valid], y2[0, seg0_valid], atol=1e-6) == isolated
        assert torch.isfinite(y).all()
    # All valid tokens from segment 1: group 0 holds only padding tokens.
    kept = torch.tensor([[6, 7, 8, 9, 4, 5]])
    attn_mask = SequenceCompressor(2, 'redundancy', 'grouped').attn_mask(kept, mask, heads)
    assert attn_mask.shape == (heads, n, n)
    y = encoder(query=x, query_pos=pos, key_padding_mask=mask, attn_mask=attn_mask)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(strategy='redundant'), ValueError, 'redundant'),
    (dict(attention='blocked'), ValueError, 'blocked'),
    (dict(strategy='random', seed=1.5), TypeError, '1.5'),
    (dict(strategy='random', seed=None), TypeError, 'seed=None'),
    (dict(strategy='random', seed=True), TypeError, 'seed=True'),
    (dict(strategy='random', seed='0'), TypeError, "seed='0'"),
    (dict(strategy='redundancy', train_guide='teacher'), ValueError, "'teacher'"),
    (dict(strategy='redundancy', eval_guide='teacher'), ValueError, "eval_guide='teacher'"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SequenceCompressor(2, **kwargs)
