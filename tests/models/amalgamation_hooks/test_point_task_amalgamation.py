"""PointTaskAmalgamation: TA through distillation points shared by each teacher and the student."""
import pytest
import torch

from mmdet.registry import MODELS

from ..amalgamators.tiny_setup import CLASSES, T1, T2, batch, save_teacher, student_cfg

POINT_TA = dict(type='PointTaskAmalgamation', points=dict(num_general=4))


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('point_teachers')
    return [save_teacher(root / 't1.pth', T1, seed=1), save_teacher(root / 't2.pth', T2, seed=2)]


def build(teachers, hook=POINT_TA, teacher_dtype=None, **student_kwargs):
    model = MODELS.build(dict(type='KADETRAmalgamator', teachers=teachers, classes=CLASSES,
                              student=student_cfg(num_teachers=len(teachers), **student_kwargs),
                              hooks=[hook], teacher_dtype=teacher_dtype))
    model.init_weights()
    return model


def point_losses(losses):
    return {k: v for k, v in losses.items() if 'loss_ta_pts' in k}


def test_losses_backpropagate_to_student_only(teachers):
    model = build(teachers)
    model.train()
    losses = point_losses(model.loss(*batch()))
    # KDDETRLoss distils both decoder layers of the tiny student.
    assert set(losses) == {f'{p}loss_ta_pts_{t}' for p in ('', 'd0.')
                           for t in ('cls', 'bbox', 'iou')}
    total = sum(losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert model.student.decoder.layers[0].cross_attn.qcontent_proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teachers.parameters())


def test_teacher_and_student_decode_the_same_points(teachers):
    """Per teacher, the student's extra decoder call receives exactly that teacher's points."""
    model = build(teachers)
    model.train()
    calls = {name: [] for name in ('t0', 't1', 'student')}
    for name, detector in (('t0', model.teachers['0']), ('t1', model.teachers['1']),
                           ('student', model.student)):
        detector.decoder.register_forward_pre_hook(
            lambda m, a, kw, name=name: calls[name].append(kw['query_pos'].detach().clone()),
            with_kwargs=True)
    model.loss(*batch())
    # Teachers decode only the points (general, specific); the student first its detection
    # queries, then teacher 0's two groups, then teacher 1's.
    assert [len(calls[k]) for k in ('t0', 't1', 'student')] == [2, 2, 5]
    for got, want in zip(calls['student'][1:], calls['t0'] + calls['t1']):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(calls['t1'][1][0], model.teachers['1'].query_embedding.weight)


def test_student_copy_of_single_teacher_has_zero_loss(tmp_path):
    """One teacher on all classes and a 1-segment student holding its weights: every point
    prediction of the last layer coincides, so KL and box terms vanish (the memories line
    up exactly). Earlier student layers are distilled against the teacher's last layer too,
    so theirs do not."""
    teacher = save_teacher(tmp_path / 't.pth', CLASSES, seed=3)
    model = build([teacher])
    model.student.load_state_dict(model.teachers['0'].state_dict())
    model.eval()  # no dropout, as the teacher
    losses = point_losses(model.loss(*batch()))
    # KL at T = 10 is multiplied by T² = 100, so float32 rounding of the logits (which
    # differs between CPUs' kernels) shows up at about 1e-5 here.
    for key in ('loss_ta_pts_cls', 'loss_ta_pts_bbox', 'loss_ta_pts_iou'):
        assert abs(losses[key].item()) < 1e-4, (key, losses[key])
    assert losses['d0.loss_ta_pts_cls'] > 1e-3
    with torch.no_grad():  # a different student gives a clearly positive loss
        model.student.bbox_head.fc_cls.bias.add_(1.0)
    assert point_losses(model.loss(*batch()))['loss_ta_pts_cls'] > 1e-3


def test_points_of_a_teacher_train_only_its_classes(teachers):
    """Teacher 1's points reach the student's class logits of T1 only (other columns free)."""
    model = build(teachers[:1])
    model.train()
    weight = model.student.bbox_head.fc_cls.weight  # (20, C) sigmoid head: one row a class
    losses = point_losses(model.loss(*batch()))
    grad, = torch.autograd.grad(losses['loss_ta_pts_cls'], weight)
    rows = grad.abs().sum(1)
    owned = torch.tensor([c in T1 for c in CLASSES])
    assert (rows[owned] > 0).all() and (rows[~owned] == 0).all()


def test_works_with_compressed_student(teachers):
    model = build(teachers, compression=dict(strategy='redundancy'))
    model.train()
    losses = point_losses(model.loss(*batch()))
    assert all(torch.isfinite(v) for v in losses.values())


def test_reduced_precision_teachers(teachers):
    """bf16 teacher memories are decoded in float32: same targets up to bf16 rounding."""
    model = build(teachers)
    model.train()
    torch.manual_seed(0)
    full = point_losses(model.loss(*batch()))
    model.teacher_dtype = 'bfloat16'
    torch.manual_seed(0)
    half = point_losses(model.loss(*batch()))
    for key, value in full.items():
        assert torch.isfinite(half[key]) and half[key].dtype == torch.float32
        torch.testing.assert_close(half[key], value, rtol=0.1, atol=0.02)


def test_incompatible_teacher_is_rejected(tmp_path):
    wide = save_teacher(tmp_path / 'wide.pth', T1, seed=4, embed_dims=64)
    narrow = save_teacher(tmp_path / 'narrow.pth', T2, seed=5)
    with pytest.raises(ValueError, match='embed dims'):
        build([wide, narrow])
