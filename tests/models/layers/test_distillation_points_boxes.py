"""Distillation points of Deformable DETR and DINO: reference boxes, decoded apart."""
import math

import pytest
import torch
import torch.nn as nn

from mmdet.registry import MODELS
from mmka.models.amalgamators.base_distiller import run_detector
from mmka.models.layers import (BoxGroup, DistillationPointSampler, check_point_compatible,
                                decode_points, detector_family, encode, query_dim)

from ..amalgamators.kd_setup import BOX_KINDS, tiny_box_cfg
from ..amalgamators.tiny_setup import batch


def build(kind, seed=0, **kwargs):
    """A tiny model with jittered weights: its box regression is not zero (as a trained
    model's), so the decoded boxes depend on the decoder."""
    torch.manual_seed(seed)
    model = MODELS.build(tiny_box_cfg(kind, **kwargs))
    model.init_weights()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model.eval()


def memory_of(model, inputs, samples):
    with torch.no_grad():
        return encode(model, inputs, samples, queries=False)[0]


def record_decoder_calls(model):
    """The keyword arguments of every decoder call, in call order."""
    calls = []
    model.decoder.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(dict(kwargs)), with_kwargs=True)
    return calls


@pytest.mark.parametrize('kind, family, dim', [
    ('dino', 'dino', 4),
    ('deformable', 'deformable_detr', 2),
    ('deformable_refine', 'deformable_detr', 2),
    ('deformable_two_stage', 'deformable_detr', 4),
])
def test_family_and_reference_dim(kind, family, dim):
    model = build(kind)
    assert detector_family(model) == family
    assert query_dim(model) == dim


def test_mmdet_dino_is_the_dino_family():
    """DINO subclasses DeformableDETR: the most specific class decides."""
    assert detector_family(MODELS.build(dict(tiny_box_cfg('dino'), type='DINO'))) == 'dino'


@pytest.mark.parametrize('kind', BOX_KINDS)
def test_decoding_own_references_is_the_detection_forward(kind):
    """The specific group (the references the model's pre_decoder picks, with its content
    queries) decodes to exactly the model's detection outputs: same decoder call, same box
    refinement, same head. Two-stage Deformable DETR rebuilds its queries from the boxes
    (sigmoid then inverse_sigmoid of its proposals): equal up to rounding."""
    model = build(kind)
    inputs, samples = batch()
    with torch.no_grad():
        expected = run_detector(model, inputs, samples)
        memory = memory_of(model, inputs, samples)
        groups = DistillationPointSampler(num_general=0)(model, len(samples), memory)
        got = decode_points(model, groups, memory)
    assert got[0].shape == expected[0].shape == (2, 2, 5, 20)
    exact = kind != 'deformable_two_stage'
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0 if exact else 1e-4, atol=0 if exact else 1e-5)


def test_dino_training_points_are_its_matching_queries_without_denoising():
    """In training, a ranked group of DINO's own top-k boxes decodes (no denoising queries,
    no dn_mask) to the matching part of its detection forward (with denoising queries,
    which the matching queries never attend to)."""
    model = build('dino').train()
    inputs, samples = batch()
    with torch.no_grad():
        decoder_inputs, head_inputs = encode(model, inputs, samples)
        num_dn = head_inputs['dn_meta']['num_denoising_queries']
        assert num_dn > 0 and decoder_inputs['dn_mask'] is not None
        logits, boxes = model.bbox_head(**model.forward_decoder(**decoder_inputs))
        group = BoxGroup(decoder_inputs['reference_points'][:, num_dn:], ranked=True)
        calls = record_decoder_calls(model)
        got = decode_points(model, [group], decoder_inputs)
    assert calls[0]['self_attn_mask'] is None and calls[0]['query'].shape[1] == 5
    torch.testing.assert_close(got[0], logits[:, :, num_dn:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], boxes[:, :, num_dn:], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kind', BOX_KINDS)
def test_groups_general_fresh_specific_the_teachers(kind):
    model = build(kind)
    inputs, samples = batch()
    memory = memory_of(model, inputs, samples)
    sampler = DistillationPointSampler(num_general=7)
    with torch.no_grad():
        (general, specific), (again, _) = sampler(model, 2, memory), sampler(model, 2, memory)
        own, _ = model.pre_decoder(memory['memory'], memory['memory_mask'],
                                   memory['spatial_shapes'])
    dim, two_stage = query_dim(model), model.as_two_stage
    assert general.reference_points.shape == (2, 7, dim)
    assert not torch.equal(general.reference_points, again.reference_points)  # fresh
    assert not torch.equal(*general.reference_points)  # and per image
    assert specific.reference_points.shape == (2, 5, dim)
    torch.testing.assert_close(specific.reference_points, own['reference_points'], rtol=0,
                               atol=0)
    assert specific.ranked == (kind == 'dino') and not general.ranked
    for group in (general, specific):
        assert not group.reference_points.requires_grad
        if two_stage:  # each model builds its queries from the box
            assert group.query is None and group.query_pos is None
        else:  # the queries are part of the point
            assert group.query.shape == group.query_pos.shape == (2, group[0].shape[1], 32)
    if not two_stage:  # the teacher's learned queries, as its pre_decoder splits them
        torch.testing.assert_close(specific.query_pos[0], model.query_embedding.weight[:, :32])
        torch.testing.assert_close(specific.query[1], model.query_embedding.weight[:, 32:])


@pytest.mark.parametrize('kind', ['dino', 'deformable'])
def test_general_references_uniform_centres_log_uniform_sizes(kind):
    model = build(kind)
    general = DistillationPointSampler(num_general=20000, specific=False)(model, 1)[0]
    points = general.reference_points[0]
    torch.testing.assert_close(points[:, :2].mean(0), torch.full((2, ), 0.5), atol=0.01, rtol=0)
    torch.testing.assert_close(points[:, :2].var(0), torch.full((2, ), 1 / 12), atol=0.005,
                               rtol=0)
    if kind == 'dino':  # w, h log-uniform in [1/32, 1]: log size uniform in [-log 32, 0]
        sizes = points[:, 2:]
        assert sizes.min() >= 1 / 32 and sizes.max() <= 1
        log_range = math.log(32)
        torch.testing.assert_close(sizes.log().mean(0), torch.full((2, ), -log_range / 2),
                                   atol=0.03, rtol=0)
        torch.testing.assert_close(sizes.log().var(0), torch.full((2, ), log_range**2 / 12),
                                   atol=0.03, rtol=0)
        narrow = DistillationPointSampler(num_general=500, specific=False,
                                          box_sizes=(0.1, 0.2))(model, 1)[0]
        assert narrow[0][..., 2:].min() >= 0.1 and narrow[0][..., 2:].max() <= 0.2
    else:  # queries like the learned ones (teacher_stats), per channel
        learned = model.query_embedding.weight
        torch.testing.assert_close(general.query_pos[0].mean(0), learned[:, :32].mean(0),
                                   atol=0.05, rtol=0)


def test_dino_content_queries_mean_for_general_rows_for_ranked():
    model = build('dino')
    inputs, samples = batch()
    memory = memory_of(model, inputs, samples)
    groups = DistillationPointSampler(num_general=3)(model, 2, memory)
    calls = record_decoder_calls(model)
    with torch.no_grad():
        decode_points(model, groups, memory)
    rows = model.query_embedding.weight
    assert [c['query'].shape for c in calls] == [(2, 3, 32), (2, 5, 32)]
    torch.testing.assert_close(calls[0]['query'], rows.mean(0).expand(2, 3, 32))
    torch.testing.assert_close(calls[1]['query'], rows.expand(2, 5, 32), rtol=0, atol=0)
    for call, group in zip(calls, groups):
        assert call['self_attn_mask'] is None  # dn_mask: no denoising queries
        assert call['reference_points'] is group.reference_points


@pytest.mark.parametrize('kind', BOX_KINDS)
def test_groups_do_not_attend_to_each_other(kind):
    model = build(kind)
    inputs, samples = batch()
    memory = memory_of(model, inputs, samples)
    general, specific = DistillationPointSampler(num_general=4)(model, 2, memory)
    moved = general._replace(reference_points=general.reference_points * 0.5)
    with torch.no_grad():
        together = decode_points(model, [general, specific], memory)
        alone = decode_points(model, [specific], memory)
        other = decode_points(model, [moved, specific], memory)
    for i in range(2):
        torch.testing.assert_close(together[i][:, :, 4:], alone[i], rtol=0, atol=0)
        torch.testing.assert_close(other[i][:, :, 4:], alone[i], rtol=0, atol=0)
    assert not torch.equal(other[1][:, :, :4], together[1][:, :, :4])


def test_decode_checks_groups():
    dino, single = build('dino'), build('deformable')
    inputs, samples = batch()
    dino_memory, single_memory = memory_of(dino, inputs, samples), memory_of(single, *batch())
    with pytest.raises(ValueError, match=r'reference_points \(2, 3, 2\); expected'):
        decode_points(dino, [BoxGroup(torch.rand(2, 3, 2))], dino_memory)
    with pytest.raises(ValueError, match='A ranked point group has 3 points.*num_queries=5'):
        decode_points(dino, [BoxGroup(torch.rand(2, 3, 4), ranked=True)], dino_memory)
    with pytest.raises(ValueError, match='query_pos None; expected'):
        decode_points(single, [BoxGroup(torch.rand(2, 3, 2))], single_memory)


def test_sampler_errors():
    with pytest.raises(ValueError, match='box_sizes'):
        DistillationPointSampler(box_sizes=(0, 1))
    with pytest.raises(ValueError, match='box_sizes'):
        DistillationPointSampler(box_sizes=(0.5, 0.25))
    dino = build('dino')
    with pytest.raises(ValueError, match='decoder_inputs'):
        DistillationPointSampler()(dino, 2)
    memory = memory_of(dino, *batch())
    with pytest.raises(ValueError, match='eval'):
        DistillationPointSampler()(dino.train(), 2, memory)


def test_check_point_compatible_boxes():
    dino = build('dino')
    check_point_compatible(dino, build('dino', enc_layers=2, dec_layers=3, base_channels=8),
                           same_classes=True)
    with pytest.raises(ValueError, match='same architecture family.*DINOAnyDim.*dino.*'
                       'DeformableDETR.*deformable_detr'):
        check_point_compatible(dino, build('deformable'))
    with pytest.raises(ValueError, match='teacher has 32, the student 64'):
        check_point_compatible(dino, build('dino', embed_dims=64))
    few_classes = build('dino', num_classes=5)
    check_point_compatible(dino, few_classes)  # knowledge amalgamation maps class subsets
    with pytest.raises(ValueError, match='teacher head has 20 classes, the student head 5'):
        check_point_compatible(dino, few_classes, same_classes=True)
    more_queries = build('dino', num_queries=6)
    with pytest.raises(ValueError, match='num_queries differs: teacher 5, student 6'):
        check_point_compatible(dino, more_queries)
    check_point_compatible(dino, more_queries, specific=False)
    with pytest.raises(ValueError, match='as_two_stage differs: teacher False, student True'):
        check_point_compatible(build('deformable', embed_dims=256),
                               build('deformable_two_stage'))
    check_point_compatible(build('deformable'), build('deformable_refine'))
    with pytest.raises(TypeError, match='Linear'):
        check_point_compatible(dino, nn.Linear(2, 2))
