"""Distillation points: sampling per family, decoding as a separate query group."""
import copy

import pytest
import torch
import torch.nn as nn

from mmdet.registry import MODELS
from mmka.models.amalgamators.base_distiller import run_detector
from mmka.models.layers import (DistillationPointSampler, check_point_compatible,
                                decode_points, detector_family, encode, query_dim)

from ..amalgamators.kd_setup import FAMILIES, tiny_cfg
from ..amalgamators.tiny_setup import batch


def build(family, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = MODELS.build(tiny_cfg(family, **kwargs))
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('family', FAMILIES)
def test_family_and_query_dim(family):
    model = build(family)
    assert detector_family(model) == family
    assert query_dim(model) == (4 if family == 'dab_detr' else 32)


def test_family_of_a_ka_student_and_a_non_detr():
    student = MODELS.build(dict(tiny_cfg('conditional_detr'), type='KAConditionalDETRStudent',
                                num_teachers=2))
    assert detector_family(student) == 'conditional_detr'
    with pytest.raises(TypeError, match='Linear'):
        detector_family(nn.Linear(2, 2))


@pytest.mark.parametrize('family', FAMILIES)
def test_groups_shapes_fresh_general_and_teacher_specific(family):
    teacher = build(family)
    sampler = DistillationPointSampler(num_general=7)
    first, second = sampler(teacher, 3), sampler(teacher, 3)
    dim = query_dim(teacher)
    assert [tuple(g.shape) for g in first] == [(3, 7, dim), (3, 8, dim)]
    assert not torch.equal(first[0], second[0])  # general points: fresh every call
    assert not torch.equal(first[0][0], first[0][1])  # and per image
    for image in first[1]:  # specific points: the teacher's learned queries
        torch.testing.assert_close(image, teacher.query_embedding.weight, rtol=0, atol=0)
    assert not first[1].requires_grad


def test_dab_detr_general_points_are_uniform_anchors():
    teacher = build('dab_detr')
    anchors = DistillationPointSampler(num_general=4000, specific=False)(teacher, 1)[0]
    anchors = anchors.sigmoid()  # DAB-DETR's decoder takes sigmoid(query_pos) as anchors
    assert anchors.min() >= 0 and anchors.max() <= 1
    torch.testing.assert_close(anchors.mean((0, 1)), torch.full((4, ), 0.5), atol=0.02, rtol=0)
    torch.testing.assert_close(anchors.var((0, 1)), torch.full((4, ), 1 / 12), atol=0.01,
                               rtol=0)


@pytest.mark.parametrize('family', ['detr', 'conditional_detr'])
def test_query_sampling_modes(family):
    teacher = build(family)
    with torch.no_grad():
        teacher.query_embedding.weight.copy_(torch.randn(8, 32) * 0.5 + torch.arange(32.))
    learned = teacher.query_embedding.weight
    stats = DistillationPointSampler(num_general=20000, specific=False)(teacher, 1)[0][0]
    torch.testing.assert_close(stats.mean(0), learned.mean(0), atol=0.03, rtol=0)
    torch.testing.assert_close(stats.std(0), learned.std(0, unbiased=False), atol=0.03, rtol=0)
    normal = DistillationPointSampler(num_general=20000, specific=False,
                                      query_sampling='normal')(teacher, 1)[0][0]
    torch.testing.assert_close(normal.mean(0), torch.zeros(32), atol=0.05, rtol=0)
    torch.testing.assert_close(normal.std(0), torch.ones(32), atol=0.05, rtol=0)


@pytest.mark.parametrize('kwargs, error', [
    (dict(num_general=-1), 'num_general'),
    (dict(num_general=2.5), 'num_general'),
    (dict(num_general=0, specific=False), 'No distillation points'),
    (dict(query_sampling='uniform'), 'query_sampling'),
])
def test_sampler_rejects_bad_options(kwargs, error):
    with pytest.raises(ValueError, match=error):
        DistillationPointSampler(**kwargs)


@pytest.mark.parametrize('family', FAMILIES)
def test_decoding_own_queries_is_the_detection_forward(family):
    """A group made of the detector's own queries reproduces its detection outputs exactly:
    the group runs through the decoder and head the way detection queries do."""
    model = build(family)
    inputs, samples = batch()
    with torch.no_grad():
        expected = run_detector(model, inputs, samples)
        memory, _ = encode(model, inputs, samples)
        own = model.query_embedding.weight.unsqueeze(0).repeat(len(samples), 1, 1)
        got = decode_points(model, [own], memory)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize('family', FAMILIES)
def test_groups_do_not_attend_to_each_other(family):
    model = build(family)
    inputs, samples = batch()
    groups = DistillationPointSampler(num_general=5)(model, len(samples))
    with torch.no_grad():
        memory, _ = encode(model, inputs, samples)
        together = decode_points(model, groups, memory)
        alone = [decode_points(model, [g], memory) for g in groups]
        # Changing one group leaves the other's predictions unchanged.
        other = decode_points(model, [groups[0] + 1, groups[1]], memory)
    for i in range(2):
        torch.testing.assert_close(together[i], torch.cat([a[i] for a in alone], 2), rtol=0,
                                   atol=0)
        torch.testing.assert_close(other[i][:, :, 5:], together[i][:, :, 5:], rtol=0, atol=0)
    assert together[0].shape[:3] == (2, 2, 13)


def test_decode_points_checks_group_shape():
    model = build('conditional_detr')
    inputs, samples = batch()
    with torch.no_grad():
        memory, _ = encode(model, inputs, samples)
        with pytest.raises(ValueError, match='expected'):
            decode_points(model, [torch.zeros(2, 3, 4)], memory)


def test_check_point_compatible():
    cond = build('conditional_detr')
    check_point_compatible(cond, build('conditional_detr', enc_layers=2, dec_layers=3,
                                       base_channels=16))
    with pytest.raises(ValueError, match=r'teacher has 32, the student 64'):
        check_point_compatible(cond, build('conditional_detr', embed_dims=64))
    with pytest.raises(ValueError, match='same architecture family.*DETR'):
        check_point_compatible(build('detr'), cond)
    dab = build('dab_detr')
    patterns = MODELS.build(dict(tiny_cfg('dab_detr'), num_patterns=2))
    with pytest.raises(ValueError, match='num_patterns=2'):
        check_point_compatible(dab, patterns)
    points = copy.deepcopy(tiny_cfg('dab_detr'))
    points['decoder'].update(query_dim=2, with_modulated_hw_attn=False)
    with pytest.raises(ValueError, match='query_dim'):
        check_point_compatible(dab, MODELS.build(points))
