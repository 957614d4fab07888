"""Task-level amalgamation loss (paper eq. 11) against a hand computation."""
import math

import pytest
import torch
from mmengine.structures import InstanceData

import mmka.models.losses.task_amalgamation_loss as ta_loss_module
from mmka.models.losses import TaskAmalgamationLoss
from mmka.models.task_modules import SoftTargetBuilder
from ...distributed_utils import run_gloo
from ..ta_reference import (brute_force_match, cxcywh_to_xyxy, eq10_cost, giou, kl, l1,
                            sigmoid, softmax)

STUDENT = ('a', 'b', 'c')
TEACHERS = (('c', 'a'), ('b', ))
IMG_METAS = [dict(img_shape=(60, 80)), dict(img_shape=(50, 50))]
NUM_QUERIES = 4


def _batch(head, temperature=2.0, seed=0, max_targets=3):
    """Soft targets from two teachers and student outputs, for a batch of two images."""
    g = torch.Generator().manual_seed(seed)
    extra = 1 if head == 'softmax' else 0
    teacher_logits = [torch.randn(2, 3, len(c) + extra, generator=g) * 3 for c in TEACHERS]
    teacher_boxes = [torch.rand(2, 3, 4, generator=g) * 0.4 + 0.1 for _ in TEACHERS]
    # 'max_fg' keeps enough random predictions for both k < m and k > m per image.
    builder = SoftTargetBuilder(STUDENT, TEACHERS, head=head, temperature=temperature,
                                filter='max_fg', score_thr=0.3, max_targets=max_targets)
    targets = builder(teacher_logits, teacher_boxes)
    student_logits = torch.randn(2, NUM_QUERIES, len(STUDENT) + extra, generator=g)
    student_boxes = torch.rand(2, NUM_QUERIES, 4, generator=g) * 0.4 + 0.1
    return (student_logits.requires_grad_(), student_boxes.requires_grad_(), targets)


def _hand_loss(student_logits, student_boxes, targets, head, temperature, weights, unmatched,
               bg_weight, normalizer, conf_weighting=True):
    """Eq. 11 by hand, matching by brute force on the eq. 10 cost (default weights); pairs
    weighted by the target's conf, or by 1 without ``conf_weighting`` (the authors' code)."""
    cls_sum = box_l1 = box_giou = 0.0
    num_matched = conf_sum = num_unmatched = 0
    for b, (logits, boxes, t) in enumerate(zip(student_logits.tolist(),
                                               student_boxes.tolist(), targets)):
        shape = IMG_METAS[b]['img_shape']
        matching = {}
        if len(t):
            cost = eq10_cost(logits, boxes, t.probs.tolist(), t.bboxes.tolist(),
                             t.scores.tolist(), head, temperature, shape,
                             dict(kl=1.0, l1=5.0, giou=2.0, conf=1.0))
            matching = brute_force_match(cost)[1]
        for i in range(len(logits)):
            if i not in matching:
                num_unmatched += 1
                if unmatched == 'background':  # hard target at T = 1
                    if head == 'softmax':
                        cls_sum += bg_weight * -math.log(softmax(logits[i])[-1])
                    else:
                        cls_sum += bg_weight * sum(-math.log(1 - sigmoid(z)) for z in logits[i])
                continue
            j = matching[i]
            conf = t.scores[j].item()
            num_matched += 1
            conf_sum += conf
            w = conf if conf_weighting else 1.0
            cls_sum += w * kl(t.probs[j].tolist(), logits[i], head, temperature)
            box_l1 += w * l1(boxes[i], t.bboxes[j].tolist())
            box_giou += w * (1 - giou(cxcywh_to_xyxy(boxes[i], shape),
                                      cxcywh_to_xyxy(t.bboxes[j].tolist(), shape)))
    num_pos = conf_sum if normalizer == 'conf_sum' else num_matched
    cls_avg = max(num_pos + (bg_weight * num_unmatched if unmatched == 'background' else 0), 1)
    box_avg = max(num_pos, 1)
    return dict(loss_ta_cls=weights['cls'] * cls_sum / cls_avg,
                loss_ta_bbox=weights['box'] * weights['l1'] * box_l1 / box_avg,
                loss_ta_iou=weights['box'] * weights['giou'] * box_giou / box_avg)


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
@pytest.mark.parametrize('unmatched', ['none', 'background'])
@pytest.mark.parametrize('normalizer', ['num_matched', 'conf_sum'])
@pytest.mark.parametrize('max_targets, seed', [(3, 0), (6, 1)])
def test_loss_equals_hand_computation(head, unmatched, normalizer, max_targets, seed):
    temperature = 2.0
    logits, boxes, targets = _batch(head, temperature, seed, max_targets)
    if max_targets < NUM_QUERIES:  # every image has matched and unmatched queries
        assert all(0 < len(t) < NUM_QUERIES for t in targets)
    else:  # some image has more targets than queries: targets are left over
        assert any(len(t) > NUM_QUERIES for t in targets)
    weights = dict(cls=0.7, box=1.3, l1=4.0, giou=3.0)
    loss = TaskAmalgamationLoss(cls_weight=weights['cls'], box_weight=weights['box'],
                                l1_weight=weights['l1'], giou_weight=weights['giou'],
                                unmatched=unmatched, bg_weight=0.25, normalizer=normalizer)
    got = loss(logits, boxes, targets, IMG_METAS)
    expected = _hand_loss(logits, boxes, targets, head, temperature, weights, unmatched, 0.25,
                          normalizer)
    assert set(got) == {'loss_ta_cls', 'loss_ta_bbox', 'loss_ta_iou'}
    for name, value in expected.items():
        assert got[name].item() == pytest.approx(value, rel=1e-5), name


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
@pytest.mark.parametrize('unmatched', ['none', 'background'])
def test_without_conf_weighting_equals_hand_computation(head, unmatched):
    """conf_weighting=False (the authors' code): every matched pair has weight 1."""
    logits, boxes, targets = _batch(head, temperature=4.0, seed=2)
    weights = dict(cls=1.0, box=1.0, l1=5.0, giou=2.0)
    loss = TaskAmalgamationLoss(unmatched=unmatched, bg_weight=0.1, conf_weighting=False)
    got = loss(logits, boxes, targets, IMG_METAS)
    expected = _hand_loss(logits, boxes, targets, head, 4.0, weights, unmatched, 0.1,
                          'num_matched', conf_weighting=False)
    weighted = loss.__class__(unmatched=unmatched, bg_weight=0.1)(logits, boxes, targets,
                                                                  IMG_METAS)
    for name, value in expected.items():
        assert got[name].item() == pytest.approx(value, rel=1e-5), name
        assert got[name].item() > weighted[name].item()  # conf < 1 shrank every pair
    with pytest.raises(ValueError, match='conf_weighting'):
        TaskAmalgamationLoss(normalizer='conf_sum', conf_weighting=False)


FOCAL = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)
CROSS_ENTROPY = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)


def _hand_hard_label_cls(logits, targets, assign_results, head, bg_weight, unmatched,
                         conf_weighting):
    """DETRHead's class term on the targets' argmax labels, by hand: focal (alpha 0.25,
    gamma 2) over every class for sigmoid heads, averaged by the matched count; cross-entropy
    for softmax heads, averaged by matched + bg_weight x unmatched."""
    total = num_matched = num_unmatched = 0.0
    for b, (image_logits, t, result) in enumerate(zip(logits.tolist(), targets,
                                                      assign_results)):
        for i, z in enumerate(image_logits):
            j = result.gt_inds[i].item() - 1
            if j < 0:
                num_unmatched += 1
                w, label = (bg_weight if unmatched == 'background' else 0.0), None
            else:
                num_matched += 1
                w = t.scores[j].item() if conf_weighting else 1.0
                label = t.labels[j].item()
            if head == 'sigmoid':
                for c, zc in enumerate(z):
                    p = sigmoid(zc)
                    total += w * (-0.25 * (1 - p)**2 * math.log(p) if c == label else
                                  -0.75 * p**2 * math.log(1 - p))
            else:
                total += w * -math.log(softmax(z)[len(z) - 1 if label is None else label])
    neg = bg_weight * num_unmatched if (head == 'softmax' and unmatched == 'background') else 0
    return total / max(num_matched + neg, 1)


@pytest.mark.parametrize('head, cls_loss', [('sigmoid', FOCAL), ('softmax', CROSS_ENTROPY)])
@pytest.mark.parametrize('unmatched, conf_weighting', [('background', False),
                                                      ('background', True), ('none', False)])
def test_hard_label_cls_loss_equals_hand_computation(head, cls_loss, unmatched,
                                                     conf_weighting):
    """cls_loss: DETRHead's class term on the argmax labels; the box terms are untouched."""
    logits, boxes, targets = _batch(head, temperature=2.0, seed=3)
    kwargs = dict(unmatched=unmatched, bg_weight=0.5, conf_weighting=conf_weighting)
    loss = TaskAmalgamationLoss(cls_loss=cls_loss, **kwargs)
    got = loss(logits, boxes, targets, IMG_METAS)
    assign_results = loss.assign(logits, boxes, targets, IMG_METAS)
    assert any((r.gt_inds == 0).any() for r in assign_results)  # background terms are used
    expected = _hand_hard_label_cls(logits, targets, assign_results, head, 0.5, unmatched,
                                    conf_weighting)
    assert got['loss_ta_cls'].item() == pytest.approx(expected, rel=1e-5)
    soft = TaskAmalgamationLoss(**kwargs)(logits, boxes, targets, IMG_METAS)
    assert got['loss_ta_cls'].item() != pytest.approx(soft['loss_ta_cls'].item(), rel=1e-3)
    for name in ('loss_ta_bbox', 'loss_ta_iou'):
        assert got[name].item() == pytest.approx(soft[name].item(), rel=1e-6), name
    got['loss_ta_cls'].backward()
    assert logits.grad.abs().sum() > 0


def test_hard_label_cls_loss_must_fit_the_head():
    logits, boxes, targets = _batch('softmax')
    with pytest.raises(ValueError, match=r'use_sigmoid=True\) does not fit softmax targets'):
        TaskAmalgamationLoss(cls_loss=FOCAL)(logits, boxes, targets, IMG_METAS)
    logits, boxes, targets = _batch('sigmoid')
    with pytest.raises(ValueError, match='use use_sigmoid=True'):
        TaskAmalgamationLoss(cls_loss=CROSS_ENTROPY)(logits, boxes, targets, IMG_METAS)


def test_temperature_squared_scaling():
    """Soft targets at T: the class term is T² · KL at T (checked via a T = 1 copy)."""
    logits, boxes, targets = _batch('softmax', temperature=3.0)
    loss = TaskAmalgamationLoss(unmatched='none')
    got = loss(logits, boxes, targets, IMG_METAS)['loss_ta_cls']
    # The same KL without temperature handling: student logits / T, targets marked T = 1.
    plain = [InstanceData(metainfo=dict(head='softmax', temperature=1.0), **dict(t.items()))
             for t in targets]
    assignment = loss.assign(logits, boxes, targets, IMG_METAS)
    unscaled = loss.loss_by_assignment(logits / 3.0, boxes, plain, assignment,
                                       IMG_METAS)['loss_ta_cls']
    assert got.item() == pytest.approx(9.0 * unscaled.item(), rel=1e-5)


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
def test_gradients_reach_student_outputs(head):
    logits, boxes, targets = _batch(head)
    loss = TaskAmalgamationLoss(unmatched='none')
    result = loss.assign(logits, boxes, targets, IMG_METAS)
    sum(loss(logits, boxes, targets, IMG_METAS).values()).backward()
    matched = torch.stack([r.gt_inds > 0 for r in result])
    assert (logits.grad[matched].abs().sum(-1) > 0).all()
    assert (boxes.grad[matched].abs().sum(-1) > 0).all()
    # Policy 'none': unmatched queries get no gradient at all.
    assert (logits.grad[~matched] == 0).all() and (boxes.grad[~matched] == 0).all()


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
def test_zero_targets_give_zero_loss_with_grad(head):
    logits, boxes, targets = _batch(head)
    empty = [t[:0] for t in targets]
    losses = TaskAmalgamationLoss(unmatched='none')(logits, boxes, empty, IMG_METAS)
    for name, value in losses.items():
        assert value.item() == 0 and value.grad_fn is not None, name
    sum(losses.values()).backward()
    assert logits.grad is not None and boxes.grad is not None
    assert torch.isfinite(logits.grad).all() and torch.isfinite(boxes.grad).all()
    # With background supervision every query is pushed towards "no object".
    losses = TaskAmalgamationLoss(unmatched='background')(logits, boxes, empty, IMG_METAS)
    assert losses['loss_ta_cls'].item() > 0 and losses['loss_ta_bbox'].item() == 0


def test_normalizer_is_averaged_across_ranks(monkeypatch):
    """The normalisers go through mmdet's reduce_mean, like DETRHead's num_total_pos."""
    logits, boxes, targets = _batch('softmax')
    loss = TaskAmalgamationLoss()
    single = loss(logits, boxes, targets, IMG_METAS)
    # Pretend the other ranks had three times as many matches on average.
    monkeypatch.setattr(ta_loss_module, 'reduce_mean', lambda tensor: tensor * 3)
    reduced = loss(logits, boxes, targets, IMG_METAS)
    for name in single:
        assert reduced[name].item() == pytest.approx(single[name].item() / 3, rel=1e-5)


RANK_BATCHES = ((0, 3), (1, 6))  # (seed, max_targets) of each rank's batch
GLOO_CASES = [(head, unmatched) for head in ('softmax', 'sigmoid')
              for unmatched in ('none', 'background')]


def _hand_normalizers(targets, unmatched, bg_weight):
    """(N_cls, N_box) of one batch for 'num_matched': Hungarian matching pairs min(k, m)."""
    num_matched = sum(min(len(t), NUM_QUERIES) for t in targets)
    num_unmatched = len(targets) * NUM_QUERIES - num_matched
    return num_matched + (bg_weight * num_unmatched if unmatched == 'background' else 0), \
        num_matched


def _gloo_rank_losses(rank):
    """This rank's TA losses (default weights, bg_weight 0.25) inside a gloo group."""
    seed, max_targets = RANK_BATCHES[rank]
    out = {}
    for head, unmatched in GLOO_CASES:
        logits, boxes, targets = _batch(head, seed=seed, max_targets=max_targets)
        loss = TaskAmalgamationLoss(unmatched=unmatched, bg_weight=0.25)
        out[f'{head}-{unmatched}'] = {
            k: v.item() for k, v in loss(logits, boxes, targets, IMG_METAS).items()}
    return out


def test_normalizer_is_averaged_across_two_gloo_ranks(tmp_path):
    """Each rank divides its own sums by the mean of both ranks' N_cls and N_box."""
    results = run_gloo(_gloo_rank_losses, tmp_path)
    weights = dict(cls=1.0, box=1.0, l1=5.0, giou=2.0)
    for head, unmatched in GLOO_CASES:
        batches = [_batch(head, seed=seed, max_targets=k) for seed, k in RANK_BATCHES]
        norms = [_hand_normalizers(targets, unmatched, 0.25) for _, _, targets in batches]
        assert norms[0][1] != norms[1][1]  # the ranks match different numbers of targets
        mean = [(a + b) / 2 for a, b in zip(*norms)]
        for rank, (logits, boxes, targets) in enumerate(batches):
            local = _hand_loss(logits, boxes, targets, head, 2.0, weights, unmatched, 0.25,
                               'num_matched')
            # The hand loss divides by this rank's own normalisers (clamped to >= 1).
            own_cls, own_box = (max(n, 1) for n in norms[rank])
            expected = dict(loss_ta_cls=local['loss_ta_cls'] * own_cls / max(mean[0], 1),
                            loss_ta_bbox=local['loss_ta_bbox'] * own_box / max(mean[1], 1),
                            loss_ta_iou=local['loss_ta_iou'] * own_box / max(mean[1], 1))
            got = results[rank][f'{head}-{unmatched}']
            assert set(got) == set(expected)
            for name, value in expected.items():
                assert got[name] == pytest.approx(value, rel=1e-5), (head, unmatched, name)


def test_low_precision_inputs_are_computed_in_float32():
    logits, boxes, targets = _batch('softmax')
    loss = TaskAmalgamationLoss()
    half = loss(logits.bfloat16(), boxes.bfloat16(), targets, IMG_METAS)
    full = loss(logits.bfloat16().float(), boxes.bfloat16().float(), targets, IMG_METAS)
    for name in full:
        assert half[name].dtype == torch.float32
        assert half[name].item() == pytest.approx(full[name].item(), rel=1e-6)


def test_loss_by_layers_names_and_values():
    logits, boxes, targets = _batch('sigmoid')
    layers_logits = torch.stack([logits * 0.5, logits * 2, logits])
    layers_boxes = torch.stack([boxes, boxes.flip(1), boxes])
    loss = TaskAmalgamationLoss()
    losses = loss.loss_by_layers(layers_logits, layers_boxes, targets, IMG_METAS)
    names = ['loss_ta_cls', 'loss_ta_bbox', 'loss_ta_iou']
    assert sorted(losses) == sorted(names + [f'd{l}.{n}' for l in (0, 1) for n in names])
    for prefix, layer in (('', 2), ('d0.', 0), ('d1.', 1)):
        single = loss(layers_logits[layer], layers_boxes[layer], targets, IMG_METAS)
        for n in names:
            assert losses[prefix + n].item() == pytest.approx(single[n].item(), rel=1e-6)
    last_only = loss.loss_by_layers(layers_logits, layers_boxes, targets, IMG_METAS,
                                    aux_layers=False)
    assert sorted(last_only) == sorted(names)


@pytest.mark.parametrize('kwargs, name', [
    (dict(unmatched='ignore'), 'ignore'),
    (dict(normalizer='batch'), 'batch'),
    (dict(bg_weight=-0.1), 'bg_weight'),
    (dict(l1_weight=-1.0), 'l1_weight'),
])
def test_rejects_bad_config(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TaskAmalgamationLoss(**kwargs)


def test_rejects_bad_inputs():
    logits, boxes, targets = _batch('softmax')
    loss = TaskAmalgamationLoss()
    with pytest.raises(ValueError, match=r'student_boxes have shape \(2, 4, 2\)'):
        loss(logits, boxes[..., :2], targets, IMG_METAS)
    with pytest.raises(ValueError, match=r'student_logits must be \(B, m, K\)'):
        loss(logits[0], boxes, targets, IMG_METAS)
    with pytest.raises(ValueError, match='1 target sets'):
        loss(logits, boxes, targets[:1], IMG_METAS)
    with pytest.raises(TypeError, match='targets\\[0\\] is a dict'):
        loss(logits, boxes, [dict(t.items()) for t in targets], IMG_METAS)
    # A sigmoid student (|C| columns) with softmax soft targets (|C|+1).
    with pytest.raises(ValueError, match='3 columns .* softmax teachers with 4'):
        loss(logits[..., :3], boxes, targets, IMG_METAS)
