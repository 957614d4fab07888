"""Eq. 10 match costs and the teacher-student matching against a brute-force reference."""
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.registry import TASK_UTILS
from mmka.models.losses import TaskAmalgamationLoss
from mmka.models.task_modules import ta_assigner_cfg
from ..ta_reference import brute_force_match, eq10_cost, kl, prob_cost

NUM_CLASSES = 3
IMG_SHAPE = (60, 80)  # (h, w): not square, so normalised and absolute GIoU differ


def _targets(head, k, temperature, seed):
    """k random soft targets in a student space of NUM_CLASSES classes."""
    g = torch.Generator().manual_seed(seed)
    width = NUM_CLASSES + 1 if head == 'softmax' else NUM_CLASSES
    logits = torch.randn(k, width, generator=g) * 2
    probs = logits.softmax(-1) if head == 'softmax' else logits.sigmoid()
    centre = torch.rand(k, 2, generator=g) * 0.6 + 0.2
    size = torch.rand(k, 2, generator=g) * 0.3 + 0.05
    return InstanceData(metainfo=dict(head=head, temperature=temperature),
                        probs=probs, bboxes=torch.cat([centre, size], 1),
                        scores=torch.rand(k, generator=g) * 0.9 + 0.1,
                        labels=torch.randint(0, NUM_CLASSES, (k, ), generator=g))


def _student(head, m, seed):
    g = torch.Generator().manual_seed(seed + 100)
    width = NUM_CLASSES + 1 if head == 'softmax' else NUM_CLASSES
    centre = torch.rand(m, 2, generator=g) * 0.6 + 0.2
    size = torch.rand(m, 2, generator=g) * 0.3 + 0.05
    return torch.randn(m, width, generator=g) * 2, torch.cat([centre, size], 1)


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
@pytest.mark.parametrize('temperature', [1.0, 3.0])
def test_soft_kl_cost_matches_hand_kl(head, temperature):
    targets = _targets(head, k=3, temperature=temperature, seed=0)
    logits, _ = _student(head, m=4, seed=0)
    cost_fn = TASK_UTILS.build(dict(type='SoftKLCost', weight=0.5))
    cost = cost_fn(InstanceData(scores=logits), targets)
    assert cost.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            ref = 0.5 * kl(targets.probs[j].tolist(), logits[i].tolist(), head, temperature)
            assert cost[i, j].item() == pytest.approx(ref, rel=1e-5, abs=1e-6)


def test_teacher_confidence_cost_broadcasts():
    targets = _targets('softmax', k=3, temperature=1.0, seed=0)
    cost_fn = TASK_UTILS.build(dict(type='TeacherConfidenceCost', weight=2.0))
    cost = cost_fn(InstanceData(scores=torch.zeros(5, 4)), targets)
    assert torch.allclose(cost, -2.0 * targets.scores.expand(5, 3))


CASES = [
    # (m students, k targets, eq. 10 weights)
    (4, 3, dict(kl=1.0, l1=5.0, giou=2.0, conf=1.0)),  # the paper's / UP-DETR's
    (3, 4, dict(kl=1.0, l1=5.0, giou=2.0, conf=1.0)),  # more targets than students
    (3, 4, dict(kl=0.5, l1=2.0, giou=3.0, conf=6.0)),  # confidence dominates which k-m go
    (4, 4, dict(kl=2.0, l1=1.0, giou=1.0, conf=0.0)),
]


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
@pytest.mark.parametrize('m, k, weights', CASES)
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matching_equals_brute_force(head, m, k, weights, seed):
    temperature = 2.0 if seed == 2 else 1.0
    targets = _targets(head, k, temperature, seed)
    logits, boxes = _student(head, m, seed)
    loss = TaskAmalgamationLoss(assigner=ta_assigner_cfg(**weights))
    result = loss.assign(logits[None], boxes[None], [targets], [dict(img_shape=IMG_SHAPE)])[0]

    cost = eq10_cost(logits.tolist(), boxes.tolist(), targets.probs.tolist(),
                     targets.bboxes.tolist(), targets.scores.tolist(), head, temperature,
                     IMG_SHAPE, weights)
    best_total, best = brute_force_match(cost)
    got = {i: j - 1 for i, j in enumerate(result.gt_inds.tolist()) if j > 0}
    assert len(got) == min(m, k)
    assert sum(cost[i][j] for i, j in got.items()) == pytest.approx(best_total, abs=1e-4)
    assert got == best


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
@pytest.mark.parametrize('m, k', [(4, 3), (3, 4)])
@pytest.mark.parametrize('seed', [0, 1])
def test_code_cost_matching_equals_brute_force(head, m, k, seed):
    """cost='prob': DETR's own cost on the teacher's argmax label (the authors' code)."""
    targets = _targets(head, k, temperature=4.0, seed=seed)
    logits, boxes = _student(head, m, seed)
    loss = TaskAmalgamationLoss(assigner=ta_assigner_cfg('prob', head=head))
    result = loss.assign(logits[None], boxes[None], [targets], [dict(img_shape=IMG_SHAPE)])[0]
    weights = dict(cls=1.0 if head == 'softmax' else 2.0, l1=5.0, giou=2.0)
    cost = prob_cost(logits.tolist(), boxes.tolist(), targets.labels.tolist(),
                     targets.bboxes.tolist(), head, IMG_SHAPE, weights)
    best_total, best = brute_force_match(cost)
    got = {i: j - 1 for i, j in enumerate(result.gt_inds.tolist()) if j > 0}
    assert sum(cost[i][j] for i, j in got.items()) == pytest.approx(best_total, abs=1e-4)
    assert got == best


@pytest.mark.parametrize('seed', range(4))
def test_confidence_term_cannot_change_a_complete_matching(seed):
    """With k <= m every target is matched: −α3·conf adds a constant to every assignment."""
    targets = _targets('softmax', 3, temperature=1.0, seed=seed)
    logits, boxes = _student('softmax', 5, seed)
    metas = [dict(img_shape=IMG_SHAPE)]
    results = [
        TaskAmalgamationLoss(assigner=ta_assigner_cfg(conf=conf)).assign(
            logits[None], boxes[None], [targets], metas)[0].gt_inds for conf in (0.0, 50.0)]
    assert torch.equal(*results)


def test_unknown_match_cost_is_named():
    with pytest.raises(ValueError, match="'hard'"):
        ta_assigner_cfg('hard')


def test_empty_targets_match_nothing():
    targets = _targets('softmax', k=3, temperature=1.0, seed=0)[:0]
    logits, boxes = _student('softmax', m=4, seed=0)
    loss = TaskAmalgamationLoss()
    result = loss.assign(logits[None], boxes[None], [targets], [dict(img_shape=IMG_SHAPE)])[0]
    assert result.gt_inds.tolist() == [0, 0, 0, 0]
