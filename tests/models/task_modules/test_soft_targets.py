"""Soft targets of task-level amalgamation: label mapping, padding, filtering (§III-C1)."""
import math

import pytest
import torch

from mmka.models.task_modules import (SoftTargetBuilder, class_index_map, pad_teacher_probs,
                                      teacher_confidence)
from ..ta_reference import sigmoid, softmax

STUDENT = ('a', 'b', 'c', 'd', 'e')
# Interleaved: teacher 0 knows d, a; teacher 1 knows e, c, b.
TEACHERS = (('d', 'a'), ('e', 'c', 'b'))
STUDENT_INDEX = ((3, 0), (4, 2, 1))


def _logits(head, batch=2, queries=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    extra = 1 if head == 'softmax' else 0
    return [torch.randn(batch, queries, len(c) + extra, generator=g) * 2 for c in TEACHERS]


def _boxes(batch=2, queries=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, queries, 4, generator=g) for _ in TEACHERS]


def test_class_index_map_by_name():
    assert class_index_map(STUDENT, TEACHERS[0]).tolist() == list(STUDENT_INDEX[0])
    assert class_index_map(STUDENT, TEACHERS[1]).tolist() == list(STUDENT_INDEX[1])
    with pytest.raises(ValueError, match='zebra'):
        class_index_map(STUDENT, ('a', 'zebra'))


@pytest.mark.parametrize('temperature', [1.0, 2.5])
def test_softmax_zero_padding_columns(temperature):
    logits = _logits('softmax')[1]
    probs = pad_teacher_probs(logits, class_index_map(STUDENT, TEACHERS[1]), len(STUDENT),
                              'softmax', pad='zero', temperature=temperature)
    assert probs.shape == (2, 3, len(STUDENT) + 1)
    for b in range(2):
        for q in range(3):
            ref = softmax(logits[b, q].tolist(), temperature)
            expected = [0.0] * (len(STUDENT) + 1)
            for j, s in enumerate(STUDENT_INDEX[1]):
                expected[s] = ref[j]
            expected[-1] = ref[-1]  # background stays last
            assert probs[b, q].tolist() == pytest.approx(expected, abs=1e-6)


def test_softmax_floor_padding_columns():
    logits, floor, temperature = _logits('softmax')[0], -5.0, 2.0
    probs = pad_teacher_probs(logits, class_index_map(STUDENT, TEACHERS[0]), len(STUDENT),
                              'softmax', pad='floor', floor_logit=floor, temperature=temperature)
    row = logits[1, 2].tolist()
    padded = [floor] * (len(STUDENT) + 1)
    for j, s in enumerate(STUDENT_INDEX[0]):
        padded[s] = row[j]
    padded[-1] = row[-1]
    assert probs[1, 2].tolist() == pytest.approx(softmax(padded, temperature), abs=1e-6)
    # Other teachers' classes get a small but non-zero share, all equal.
    others = probs[1, 2, [1, 2, 4]]
    assert (others > 0).all() and torch.allclose(others, others[0].expand(3))


@pytest.mark.parametrize('pad', ['zero', 'floor'])
def test_sigmoid_padding_columns(pad):
    logits, floor, temperature = _logits('sigmoid')[1], -4.0, 3.0
    probs = pad_teacher_probs(logits, class_index_map(STUDENT, TEACHERS[1]), len(STUDENT),
                              'sigmoid', pad=pad, floor_logit=floor, temperature=temperature)
    assert probs.shape == (2, 3, len(STUDENT))  # no background column
    row = logits[0, 1].tolist()
    other = sigmoid(floor / temperature) if pad == 'floor' else 0.0
    expected = [other] * len(STUDENT)
    for j, s in enumerate(STUDENT_INDEX[1]):
        expected[s] = sigmoid(row[j] / temperature)
    assert probs[0, 1].tolist() == pytest.approx(expected, abs=1e-6)


def _hand_conf(row, head):
    """conf and teacher label of one prediction, at T = 1."""
    probs = softmax(row)[:-1] if head == 'softmax' else [sigmoid(v) for v in row]
    return max(probs), probs.index(max(probs))


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
def test_confidence_is_at_temperature_one(head):
    logits = _logits(head)
    conf, label = teacher_confidence(logits[0], head)
    ref_conf, ref_label = _hand_conf(logits[0][0, 0].tolist(), head)
    assert conf[0, 0].item() == pytest.approx(ref_conf, abs=1e-6)
    assert label[0, 0].item() == ref_label
    # The builder reports the same conf whatever T and padding, with labels mapped by name.
    builder = SoftTargetBuilder(STUDENT, TEACHERS, head=head, pad='floor', temperature=4.0,
                                filter='max_fg', score_thr=0.0)
    targets = builder(logits, _boxes())[0]
    expected = []
    for t, teacher_logits in enumerate(logits):
        for q in range(teacher_logits.shape[1]):
            c, j = _hand_conf(teacher_logits[0, q].tolist(), head)
            expected.append((c, t, STUDENT_INDEX[t][j]))
    expected.sort(key=lambda e: -e[0])
    assert targets.scores.tolist() == pytest.approx([e[0] for e in expected], abs=1e-6)
    assert targets.teacher.tolist() == [e[1] for e in expected]
    assert targets.labels.tolist() == [e[2] for e in expected]


def _sigmoid_logits_with_conf(confs):
    """Teacher logits (1, q, |C^t|) whose confidence is exactly ``confs[q]``."""
    logits = torch.full((1, len(confs), 1), -30.0)
    logits[0, :, 0] = torch.tensor([math.log(c / (1 - c)) for c in confs])
    return logits


def test_filter_threshold_cap_and_teacher_ids():
    student, teachers = ('x', 'y'), (('y', ), ('x', ))
    confs = ([0.05, 0.9, 0.3, 0.5], [0.7, 0.2, 0.95, 0.09])
    logits = [_sigmoid_logits_with_conf(c) for c in confs]
    boxes = [torch.rand(1, 4, 4) for _ in teachers]
    builder = SoftTargetBuilder(student, teachers, head='sigmoid', score_thr=0.1, max_targets=5)
    targets = builder(logits, boxes)[0]
    # > 0.1: 0.9 0.3 0.5 (t0), 0.7 0.2 0.95 (t1); top 5, highest first.
    assert targets.scores.tolist() == pytest.approx([0.95, 0.9, 0.7, 0.5, 0.3], abs=1e-5)
    assert targets.teacher.tolist() == [1, 0, 1, 0, 0]
    assert targets.labels.tolist() == [0, 1, 0, 1, 1]  # x -> 0, y -> 1 by name
    picked = [(1, 2), (0, 1), (1, 0), (0, 3), (0, 2)]
    for k, (t, q) in enumerate(picked):
        assert torch.equal(targets.bboxes[k], boxes[t][0, q])
    assert targets.probs.shape == (5, 2)
    assert targets.metainfo == dict(head='sigmoid', temperature=1.0)


def test_nothing_passes_gives_empty_targets():
    logits = [_sigmoid_logits_with_conf([0.05, 0.1]), _sigmoid_logits_with_conf([0.02, 0.01])]
    builder = SoftTargetBuilder(('x', 'y'), (('y', ), ('x', )), head='sigmoid', score_thr=0.1)
    targets = builder(logits, [torch.rand(1, 2, 4), torch.rand(1, 2, 4)])[0]
    assert len(targets) == 0
    assert targets.probs.shape == (0, 2) and targets.bboxes.shape == (0, 4)
    # One silent teacher: only the other one's predictions remain.
    logits[1] = _sigmoid_logits_with_conf([0.6, 0.01])
    targets = builder(logits, [torch.rand(1, 2, 4), torch.rand(1, 2, 4)])[0]
    assert targets.teacher.tolist() == [1] and targets.labels.tolist() == [0]


def test_softmax_targets_pool_all_teachers():
    builder = SoftTargetBuilder(STUDENT, TEACHERS, head='softmax', filter='max_fg',
                                score_thr=0.0)
    targets = builder(_logits('softmax'), _boxes())
    assert len(targets) == 2
    assert sorted(targets[0].teacher.tolist()) == [0, 0, 0, 1, 1, 1]
    assert targets[0].probs.shape == (6, len(STUDENT) + 1)
    assert torch.allclose(targets[0].probs.sum(-1), torch.ones(6))
    assert not targets[0].probs.requires_grad


def _hand_filter(row, head, rule, thr):
    """Whether one teacher prediction becomes a target, read off the rule's wording."""
    conf, _ = _hand_conf(row, head)
    if rule == 'argmax_fg' and head == 'softmax':
        probs = softmax(row)
        best = max(range(len(probs)), key=lambda c: (probs[c], -c))  # first maximum
        return best != len(probs) - 1 and conf > thr
    return conf > thr


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
@pytest.mark.parametrize('rule', ['argmax_fg', 'max_fg'])
def test_filter_rules_equal_hand_reference(head, rule):
    # Many random predictions at a spread where background often wins the argmax.
    g = torch.Generator().manual_seed(3)
    extra = 1 if head == 'softmax' else 0
    logits = [torch.randn(2, 40, len(c) + extra, generator=g) * 1.5 for c in TEACHERS]
    # Box (t, q, 0, 0) / 100 names the teacher and query a target comes from.
    boxes = [torch.tensor([[[t, q, 0, 0] for q in range(40)]] * 2) / 100. for t in range(2)]
    builder = SoftTargetBuilder(STUDENT, TEACHERS, head=head, filter=rule, score_thr=0.2,
                                max_targets=200)
    targets = builder(logits, boxes)
    for b in range(2):
        expected = sorted((t, q) for t, teacher in enumerate(logits) for q in range(40)
                          if _hand_filter(teacher[b, q].tolist(), head, rule, 0.2))
        got = sorted((round(100 * box[0].item()), round(100 * box[1].item()))
                     for box in targets[b].bboxes)
        assert got == expected
    if head == 'softmax' and rule == 'argmax_fg':  # the rules really differ on this data
        loose = SoftTargetBuilder(STUDENT, TEACHERS, head=head, filter='max_fg',
                                  score_thr=0.2, max_targets=200)(logits, boxes)
        assert sum(map(len, loose)) > sum(map(len, targets))


def test_argmax_filter_rejects_a_background_query():
    """Background 0.6, a class 0.3: a target for 'max_fg' only (softmax heads)."""
    probs = torch.tensor([[[0.3, 0.1, 0.6], [0.5, 0.1, 0.4]]])  # teacher 0: (d, a, bg)
    silent = torch.tensor([-9., -9., -9., 9.]).expand(1, 2, 4)  # teacher 1: background only
    logits = [probs.log(), silent]
    boxes = [torch.rand(1, 2, 4), torch.rand(1, 2, 4)]
    strict = SoftTargetBuilder(STUDENT, TEACHERS, head='softmax', filter='argmax_fg')
    loose = SoftTargetBuilder(STUDENT, TEACHERS, head='softmax', filter='max_fg')
    assert strict(logits, boxes)[0].scores.tolist() == pytest.approx([0.5])
    assert loose(logits, boxes)[0].scores.tolist() == pytest.approx([0.5, 0.3])


@pytest.mark.parametrize('kwargs, error, name', [
    (dict(head='relu'), ValueError, 'relu'),
    (dict(pad='mean'), ValueError, 'mean'),
    (dict(filter='top_k'), ValueError, 'top_k'),
    (dict(temperature=0.0), ValueError, 'temperature'),
    (dict(score_thr=1.5), ValueError, 'score_thr'),
    (dict(max_targets=0), ValueError, 'max_targets'),
    (dict(teacher_classes=(('a', 'zebra'), ('b', ))), ValueError, 'zebra'),
    (dict(teacher_classes=(('a', 'b'), ('b', ))), ValueError, "'b'"),
    (dict(teacher_classes=('a', 'b')), TypeError, 'teacher_classes'),
])
def test_builder_rejects_bad_config(kwargs, error, name):
    cfg = dict(student_classes=STUDENT, teacher_classes=TEACHERS)
    cfg.update(kwargs)
    with pytest.raises(error, match=name):
        SoftTargetBuilder(**cfg)


def test_builder_rejects_bad_shapes():
    builder = SoftTargetBuilder(STUDENT, TEACHERS, head='softmax')
    logits, boxes = _logits('softmax'), _boxes()
    with pytest.raises(ValueError, match='2 teachers'):
        builder(logits[:1], boxes[:1])
    with pytest.raises(ValueError, match=r'Teacher 1 logits .*\(B, m, 4\)'):
        builder([logits[0], logits[1][..., :3]], boxes)  # a sigmoid-sized head
    with pytest.raises(ValueError, match='Teacher 0 boxes'):
        builder(logits, [boxes[0][..., :2], boxes[1]])
