"""KDDETRDistiller on Deformable DETR and DINO: shared reference boxes, untouched detection."""
import copy

import pytest
import torch

from mmdet.registry import MODELS

from .kd_setup import BOX_KINDS, build_kd, save_model, tiny_box_cfg
from .tiny_setup import batch

BIG = dict(enc_layers=2, dec_layers=3, base_channels=32)  # teachers: deeper and wider


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('kd_box_teachers')
    return {k: save_model(root / f'{k}.pth', tiny_box_cfg(k, **BIG), seed=1) for k in BOX_KINDS}


def kd_losses(losses):
    return {k: v for k, v in losses.items() if 'loss_kd' in k}


def record_decoder_calls(detector):
    """The point-defining inputs of every decoder call, in call order."""
    calls = []

    def record(module, args, kwargs):
        calls.append({k: v.detach().clone() if torch.is_tensor(v) else v
                      for k, v in kwargs.items()
                      if k in ('reference_points', 'query_pos', 'query', 'self_attn_mask')})

    detector.decoder.register_forward_pre_hook(record, with_kwargs=True)
    return calls


@pytest.mark.parametrize('kind', BOX_KINDS)
def test_teacher_and_student_decode_identical_points(teachers, kind):
    model = build_kd(teachers[kind], tiny_box_cfg(kind), points=dict(num_general=5))
    model.train()
    teacher_calls = record_decoder_calls(model.teacher)
    student_calls = record_decoder_calls(model.student)
    inputs, samples = batch()
    with torch.no_grad():  # the teacher's own references for this batch (it runs in eval)
        model.teacher.predict(inputs, copy.deepcopy(samples))
        own = teacher_calls.pop()['reference_points']
    shared = ('reference_points', ) if model.student.as_two_stage else \
        ('reference_points', 'query_pos', 'query')
    firsts = []
    for _ in range(2):
        teacher_calls.clear()
        student_calls.clear()
        losses = model.loss(inputs, samples)
        assert len(teacher_calls) == 2  # general, specific: the teacher detects nothing
        assert len(student_calls) == 3  # detection queries, then the same two groups
        for t, s in zip(teacher_calls, student_calls[1:]):
            for key in shared:
                torch.testing.assert_close(s[key], t[key], rtol=0, atol=0)
            assert s.get('self_attn_mask') is None  # no denoising queries among the points
        general, specific = (c['reference_points'] for c in teacher_calls)
        assert general.shape == (2, 5, 4 if model.student.as_two_stage else 2)
        # Specific points: the references the teacher's own pre_decoder picks.
        torch.testing.assert_close(specific, own, rtol=0, atol=0)
        if kind == 'dino':  # the student detects with its denoising queries, as alone
            assert student_calls[0]['self_attn_mask'] is not None
            assert student_calls[0]['query'].shape[1] > 5
        firsts.append(general)
        assert all(torch.isfinite(v) for v in kd_losses(losses).values())
    assert not torch.equal(*firsts)  # fresh general points every iteration


@pytest.mark.parametrize('kind', BOX_KINDS)
def test_student_detection_untouched_by_distillation(teachers, kind):
    """The student's gt loss inputs and losses (DINO: with its random denoising queries) are
    bit-identical to training it alone, and the distiller predicts as the plain detector."""
    model = build_kd(teachers[kind], tiny_box_cfg(kind))
    model.train()
    head = model.student.bbox_head
    recorded = []
    original = head.loss_by_feat

    def recording_loss_by_feat(*args, **kwargs):
        recorded.append([a.detach().clone() for a in args[:2]])
        return original(*args, **kwargs)

    head.loss_by_feat = recording_loss_by_feat
    inputs, samples = batch()
    torch.manual_seed(7)
    with_kd = model.loss(inputs, samples)
    torch.manual_seed(7)
    alone = model.student.loss(inputs, samples)
    for a, b in zip(*recorded):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert {f'gt.{k}' for k in alone} == {k for k in with_kd if k.startswith('gt.')}
    for key, value in alone.items():
        torch.testing.assert_close(with_kd[f'gt.{key}'], value, rtol=0, atol=0)

    plain = MODELS.build(tiny_box_cfg(kind))
    plain.load_state_dict(model.student.state_dict(), strict=True)
    model.eval()
    plain.eval()
    with torch.no_grad():
        got = model(inputs, copy.deepcopy(samples), mode='predict')
        expected = plain.predict(inputs, copy.deepcopy(samples))
    for a, b in zip(got, expected):
        for field in ('bboxes', 'scores', 'labels'):
            torch.testing.assert_close(a.pred_instances[field], b.pred_instances[field],
                                       rtol=0, atol=0)


@pytest.mark.parametrize('kind', BOX_KINDS)
def test_kd_loss_zero_for_a_copy_of_the_teacher(teachers, kind):
    teacher = teachers[kind]
    # eval (no dropout, BatchNorm on running statistics, as the teacher always runs) and
    # gt_loss_weight=0: an eval-mode DINO has no encoder outputs for its gt loss.
    copy_model = build_kd(teacher, tiny_box_cfg(kind, **BIG), gt_loss_weight=0.0)
    copy_model.student.load_state_dict(copy_model.teacher.state_dict())
    other = build_kd(teacher, tiny_box_cfg(kind), gt_loss_weight=0.0)
    inputs, samples = batch()
    copy_model.eval()
    other.eval()
    with torch.no_grad():
        same = kd_losses(copy_model.loss(inputs, samples))
        different = kd_losses(other.loss(inputs, samples))
    for key in ('loss_kd_cls', 'loss_kd_bbox', 'loss_kd_iou'):
        assert abs(same[key]) < 1e-4, (key, same[key])
        assert different[key] > 1e-3, (key, different[key])
    assert 'd1.loss_kd_cls' in same and 'd0.loss_kd_cls' in different  # every layer


@pytest.mark.parametrize('kind', BOX_KINDS)
def test_kd_gradient_reaches_the_student_only(teachers, kind):
    """Distillation alone (no annotations) trains the student's backbone, decoder and head
    (DINO: its content queries too); the teacher gets no gradient and does not change."""
    model = build_kd(teachers[kind], tiny_box_cfg(kind), gt_loss_weight=0.0)
    model.train()
    assert not any(m.training for m in model.teachers.modules())
    before = copy.deepcopy(model.teachers.state_dict())
    inputs, samples = batch()
    for s in samples:
        del s.gt_instances  # no annotations needed without the gt loss
    losses = model.loss(inputs, samples)
    assert not any(k.startswith('gt.') for k in losses)
    sum(losses.values()).backward()
    student = model.student
    grads = [student.backbone.conv1.weight,
             student.decoder.layers[0].cross_attn.value_proj.weight,
             student.bbox_head.cls_branches[0].weight]
    if kind == 'dino':
        grads.append(student.query_embedding.weight)
    for param in grads:
        assert param.grad is not None and param.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teachers.parameters())
    torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2).step()
    for key, value in model.teachers.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_checkpoint_holds_student_only(teachers):
    model = build_kd(teachers['dino'], tiny_box_cfg('dino'))
    plain = MODELS.build(tiny_box_cfg('dino')).state_dict()
    assert {k[len('student.'):] for k in model.state_dict()} == set(plain)


def test_clear_errors(teachers, tmp_path):
    dino = teachers['dino']
    with pytest.raises(ValueError, match='same architecture family'):
        build_kd(dino, tiny_box_cfg('deformable_refine'))
    with pytest.raises(ValueError, match='same architecture family'):
        build_kd(teachers['deformable'], tiny_box_cfg('dino'))
    with pytest.raises(ValueError, match='teacher has 32, the student 64'):
        build_kd(dino, tiny_box_cfg('dino', embed_dims=64))
    with pytest.raises(ValueError, match='teacher head has 20 classes, the student head 5'):
        build_kd(dino, tiny_box_cfg('dino', num_classes=5))
    with pytest.raises(ValueError, match='num_queries differs: teacher 5, student 6.*'
                       r'specific=False'):
        build_kd(dino, tiny_box_cfg('dino', num_queries=6))
    build_kd(dino, tiny_box_cfg('dino', num_queries=6), points=dict(specific=False))
    with pytest.raises(ValueError, match='teacher_cache is not supported'):
        build_kd(dino, tiny_box_cfg('dino'), teacher_cache=dict(dir=str(tmp_path)))
