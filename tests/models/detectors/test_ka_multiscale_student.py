"""Multi-scale KA students (Deformable DETR, DINO): equivalences, folding, compression."""
import copy

import pytest
import torch

from mmdet.registry import MODELS
from .dino_setup import batch, tiny_dino_cfg

DIMS = 32


def _deformable_cfg(embed_dims=DIMS, two_stage=False):
    """The tiny DINO's backbone, neck and layers as a Deformable DETR with box refinement."""
    cfg = tiny_dino_cfg(embed_dims)
    cfg.pop('dn_cfg')
    cfg.update(type='DeformableDETR', as_two_stage=two_stage)
    cfg['decoder']['post_norm_cfg'] = None
    cfg['bbox_head']['type'] = 'DeformableDETRHead'
    return cfg


PLAIN = {
    'dino': (lambda: tiny_dino_cfg(DIMS), 'KADINOStudent'),
    'deformable': (lambda: _deformable_cfg(DIMS), 'KADeformableDETRStudent'),
    'deformable_two_stage': (lambda: _deformable_cfg(256, two_stage=True),
                             'KADeformableDETRStudent'),
}


def _pair(kind, num_teachers, **student_kwargs):
    """(plain model, student with N tiled copies of its weights), both in eval mode."""
    make, student_type = PLAIN[kind]
    plain = MODELS.build(make())
    plain.init_weights()
    student_cfg = dict(make(), type=student_type, num_teachers=num_teachers, **student_kwargs)
    student = MODELS.build(student_cfg)
    student.load_state_dict(plain.state_dict())
    return plain.eval(), student.eval()


def _tensor_outputs(model, imgs, samples):
    with torch.no_grad():
        return model.forward(imgs, copy.deepcopy(samples), mode='tensor')


@pytest.mark.parametrize('kind', sorted(PLAIN))
@pytest.mark.parametrize('padded', [False, True])
def test_single_segment_student_equals_plain_model(kind, padded):
    plain, student = _pair(kind, 1)
    imgs, samples = batch(padded=padded)
    for a, b in zip(_tensor_outputs(student, imgs, samples), _tensor_outputs(plain, imgs, samples)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_single_segment_student_losses_equal_plain_model():
    plain, student = _pair('dino', 1)
    plain.train(), student.train()
    imgs, samples = batch(padded=True)
    torch.manual_seed(0)  # DINO's denoising queries are random
    ref = plain.loss(imgs, copy.deepcopy(samples))
    torch.manual_seed(0)
    got = student.loss(imgs, copy.deepcopy(samples))
    assert ref.keys() == got.keys()
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], rtol=0, atol=0)


@pytest.mark.parametrize('kind', sorted(PLAIN))
@pytest.mark.parametrize('num_teachers', [2, 3])
def test_tiled_student_equals_plain_model(kind, num_teachers):
    """N identical segments: block-diagonal encoder, decoder weights split over duplicated
    levels, proposals deduplicated to one segment per position: the plain model's output."""
    plain, student = _pair(kind, num_teachers)
    imgs, samples = batch(padded=True)
    for a, b in zip(_tensor_outputs(student, imgs, samples), _tensor_outputs(plain, imgs, samples)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_decoder_sees_n_times_the_levels_and_tiles_plain_weights():
    plain, student = _pair('dino', 2)
    attn, plain_attn = student.decoder.layers[0].cross_attn, plain.decoder.layers[0].cross_attn
    assert attn.num_levels == 2 * plain_attn.num_levels
    assert student.encoder.layers[0].self_attn.num_levels == plain_attn.num_levels
    heads, levels = attn.num_heads, plain_attn.num_levels
    w = attn.attention_weights.weight.view(heads, 2, levels, -1, DIMS)
    torch.testing.assert_close(w[:, 0], w[:, 1])
    torch.testing.assert_close(w[:, 0].reshape(-1, DIMS), plain_attn.attention_weights.weight)
    # A student checkpoint reloads as it is.
    again = MODELS.build(dict(tiny_dino_cfg(DIMS), type='KADINOStudent', num_teachers=2))
    again.load_state_dict(student.state_dict())
    torch.testing.assert_close(again.decoder.layers[0].cross_attn.sampling_offsets.bias,
                               attn.sampling_offsets.bias)


def test_folded_encoder_equals_per_segment_loop_with_gradients():
    student = MODELS.build(dict(tiny_dino_cfg(DIMS), type='KADINOStudent', num_teachers=2))
    student.init_weights()
    imgs, samples = batch(padded=True)
    feats = student.extract_feat(imgs)
    enc_in, _ = student.pre_transformer(feats, samples)
    folded = student.forward_encoder(**enc_in)['memory']
    n = enc_in['feat'].size(1) // 2
    loop = torch.cat([student.encoder(
        query=enc_in['feat'][:, t * n:(t + 1) * n],
        query_pos=enc_in['feat_pos'][:, t * n:(t + 1) * n],
        key_padding_mask=enc_in['feat_mask'][:, t * n:(t + 1) * n],
        spatial_shapes=enc_in['spatial_shapes'],
        level_start_index=enc_in['level_start_index'],
        valid_ratios=enc_in['valid_ratios']) for t in range(2)], 1)
    torch.testing.assert_close(folded, loop, rtol=1e-5, atol=1e-6)
    grads = []
    for out in (folded, loop):
        student.zero_grad()
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward(retain_graph=True)
        grads.append(student.encoder.layers[0].self_attn.sampling_offsets.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_segments_differ_and_proposals_keep_one_segment_per_position():
    student = MODELS.build(dict(tiny_dino_cfg(DIMS), type='KADINOStudent', num_teachers=2))
    student.init_weights()
    student.eval()
    imgs, samples = batch()
    feats = student.extract_feat(imgs)
    levels = student.num_feature_levels
    assert len(feats) == 2 * levels
    assert not torch.allclose(feats[0], feats[levels])  # independently initialised necks
    enc_in, dec_in = student.pre_transformer(feats, samples)
    enc_out = student.forward_encoder(**enc_in)
    n = enc_in['feat'].size(1) // 2
    assert dec_in['spatial_shapes'].shape == (2 * levels, 2)
    assert dec_in['level_start_index'][levels] == n
    memory, proposals = student.gen_encoder_output_proposals(**enc_out)
    assert memory.shape == (2, n, DIMS) and proposals.shape == (2, n, 4)
    # Each position keeps the segment whose best class logit is higher.
    per_segment = [_segment_proposals(student, enc_out, t, n) for t in range(2)]
    scores = torch.stack([student._proposal_scores(m) for m, _ in per_segment], 1)
    best = scores.argmax(1)
    expected = torch.where(best[..., None] == 0, per_segment[0][1], per_segment[1][1])
    torch.testing.assert_close(proposals, expected)
    # Proposal sizes use the level within the segment: same priors in both segments.
    torch.testing.assert_close(per_segment[0][1], per_segment[1][1])


def _segment_proposals(student, enc_out, t, n):
    """The plain DINO's proposals of segment t alone."""
    from mmdet.models.detectors import DeformableDETR
    levels = student.num_feature_levels
    mask = enc_out['memory_mask']
    return DeformableDETR.gen_encoder_output_proposals(
        student, enc_out['memory'][:, t * n:(t + 1) * n],
        None if mask is None else mask[:, t * n:(t + 1) * n],
        enc_out['spatial_shapes'][:levels])


@pytest.mark.parametrize('strategy', ['redundancy', 'isometric', 'random'])
def test_compressed_student_is_an_l_level_model(strategy):
    plain, student = _pair('dino', 2, compression=dict(strategy=strategy))
    assert student.decoder.layers[0].cross_attn.num_levels == student.num_feature_levels
    imgs, samples = batch(padded=True)
    out = _tensor_outputs(student, imgs, samples)
    kept = student.last_kept_indices
    feats = student.extract_feat(imgs)
    n = sum(f.shape[-2] * f.shape[-1] for f in feats[:student.num_feature_levels])
    assert kept.shape == (2, n)
    torch.testing.assert_close(kept % n, torch.arange(n).expand(2, n))  # position order
    if strategy == 'isometric':
        # Alg. 1's isometric rule inside each level: level position i keeps segment i mod N.
        sizes = [f.shape[-2] * f.shape[-1] for f in feats[:student.num_feature_levels]]
        expected = torch.cat([torch.arange(s) % 2 for s in sizes])
        torch.testing.assert_close(kept[0] // n, expected)
    # Same weights in both projections: compression keeps identical tokens, plain output.
    for a, b in zip(out, _tensor_outputs(plain, imgs, samples)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_compressed_student_trains_on_a_teacher_guide():
    student = MODELS.build(dict(tiny_dino_cfg(DIMS), type='KADINOStudent', num_teachers=2,
                                compression=dict(strategy='redundancy')))
    student.init_weights()
    imgs, samples = batch(padded=True)
    feats = student.extract_feat(imgs)
    seq_len = 2 * sum(f.shape[-2] * f.shape[-1] for f in feats[:student.num_feature_levels])
    guide = torch.randn(2, seq_len, 16)
    with student.compression_guide(guide):
        losses = student.loss(imgs, samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert student.neck[1].convs[0].conv.weight.grad is not None
    with pytest.raises(ValueError, match='guide'):
        with student.compression_guide(guide[:, 1:]):
            student.loss(imgs, samples)


def test_errors_name_the_bad_value():
    cfg = tiny_dino_cfg(DIMS)
    with pytest.raises(ValueError, match="attention='full'"):
        MODELS.build(dict(cfg, type='KADINOStudent', num_teachers=2,
                          compression=dict(strategy='redundancy', attention='grouped')))
    with pytest.raises(ValueError, match='num_teachers=0'):
        MODELS.build(dict(cfg, type='KADINOStudent', num_teachers=0))
    with pytest.raises(TypeError, match='num_teachers'):
        MODELS.build(dict(cfg, type='KADINOStudent', num_teachers=2.0))


def test_config_is_not_mutated():
    cfg = tiny_dino_cfg(DIMS)
    before = copy.deepcopy(cfg)
    MODELS.build(dict(cfg, type='KADINOStudent', num_teachers=3))
    assert cfg == before
