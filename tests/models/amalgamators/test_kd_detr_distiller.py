"""KDDETRDistiller: consistent points, untouched detection path, frozen teacher, errors."""
import copy

import pytest
import torch

from mmdet.registry import MODELS

from .kd_setup import FAMILIES, build_kd, save_model, tiny_cfg
from .tiny_setup import CLASSES, batch

BIG = dict(enc_layers=2, dec_layers=3, base_channels=16)  # teachers: deeper and wider


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('kd_teachers')
    return {f: save_model(root / f'{f}.pth', tiny_cfg(f, **BIG), seed=1) for f in FAMILIES}


def kd_losses(losses):
    return {k: v for k, v in losses.items() if 'loss_kd' in k}


def record_decoder_queries(detector):
    """query_pos of every decoder call, in call order (a forward pre-hook with kwargs)."""
    calls = []
    detector.decoder.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(kwargs['query_pos'].detach().clone()),
        with_kwargs=True)
    return calls


@pytest.mark.parametrize('family', FAMILIES)
def test_teacher_and_student_decode_identical_points(teachers, family):
    model = build_kd(teachers[family], tiny_cfg(family), points=dict(num_general=5))
    model.train()
    teacher_calls = record_decoder_queries(model.teacher)
    student_calls = record_decoder_queries(model.student)
    inputs, samples = batch()
    firsts = []
    for _ in range(2):
        teacher_calls.clear()
        student_calls.clear()
        losses = model.loss(inputs, samples)
        assert len(teacher_calls) == 2  # general, specific: the teacher detects nothing
        assert len(student_calls) == 3  # detection queries, then the same two groups
        for t, s in zip(teacher_calls, student_calls[1:]):
            torch.testing.assert_close(s, t, rtol=0, atol=0)
        general, specific = teacher_calls
        assert general.shape[:2] == (2, 5)
        learned = model.teacher.query_embedding.weight
        torch.testing.assert_close(specific, learned.expand_as(specific), rtol=0, atol=0)
        # The student's detection queries are its own, not the points.
        torch.testing.assert_close(student_calls[0][0], model.student.query_embedding.weight)
        firsts.append(general)
        assert all(torch.isfinite(v) for v in kd_losses(losses).values())
    assert not torch.equal(*firsts)  # fresh general points every iteration


@pytest.mark.parametrize('family', FAMILIES)
def test_student_detection_untouched_by_distillation(teachers, family):
    """The student's gt loss inputs and losses are bit-identical to training it alone (train
    mode, dropout on), and the distiller predicts exactly as the plain detector."""
    model = build_kd(teachers[family], tiny_cfg(family))
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

    plain = MODELS.build(tiny_cfg(family))  # the student alone: same keys, same outputs
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


@pytest.mark.parametrize('family', FAMILIES)  # softmax head (DETR) and sigmoid heads
def test_kd_loss_zero_for_a_copy_of_the_teacher(teachers, family):
    teacher = teachers[family]
    copy_model = build_kd(teacher, tiny_cfg(family, **BIG))
    copy_model.student.load_state_dict(copy_model.teacher.state_dict())
    other = build_kd(teacher, tiny_cfg(family))
    inputs, samples = batch()
    # eval: no dropout and BatchNorm on running statistics, as the teacher always runs.
    copy_model.eval()
    other.eval()
    with torch.no_grad():
        same = kd_losses(copy_model.loss(inputs, samples))
        different = kd_losses(other.loss(inputs, samples))
    for key in ('loss_kd_cls', 'loss_kd_bbox', 'loss_kd_iou'):
        assert abs(same[key]) < 1e-4, (key, same[key])
        assert different[key] > 1e-3, (key, different[key])
    assert 'd1.loss_kd_cls' in same and 'd0.loss_kd_cls' in different  # every layer


def test_teacher_frozen_in_eval_and_unchanged_by_optimizer(teachers):
    model = build_kd(teachers['conditional_detr'], tiny_cfg('conditional_detr'))
    model.train()
    assert not any(m.training for m in model.teachers.modules())
    assert model.student.training
    assert not any(p.requires_grad for p in model.teachers.parameters())
    before = copy.deepcopy(model.teachers.state_dict())  # BatchNorm buffers included
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs, samples = batch()  # two images of different sizes: padded
    loss = sum(v for k, v in model.loss(inputs, samples).items() if 'loss' in k)
    loss.backward()
    assert all(p.grad is None for p in model.teachers.parameters())
    # The points reach the student's decoder and head, also the parts detection shares.
    assert model.student.decoder.layers[0].cross_attn.qcontent_proj.weight.grad.abs().sum() > 0
    optim.step()
    for key, value in model.teachers.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_kd_gradient_alone_reaches_the_student(teachers):
    model = build_kd(teachers['detr'], tiny_cfg('detr'), gt_loss_weight=0.0)
    model.train()
    inputs, samples = batch()
    for s in samples:
        del s.gt_instances  # no annotations needed without the gt loss
    losses = model.loss(inputs, samples)
    assert not any(k.startswith('gt.') for k in losses)
    sum(losses.values()).backward()
    assert model.student.backbone.conv1.weight.grad.abs().sum() > 0


def test_checkpoint_holds_student_only(teachers):
    model = build_kd(teachers['dab_detr'], tiny_cfg('dab_detr'))
    state = model.state_dict()
    plain = MODELS.build(tiny_cfg('dab_detr')).state_dict()
    assert {k[len('student.'):] for k in state} == set(plain)  # no extra parameters


def test_points_options_reach_the_sampler(teachers):
    model = build_kd(teachers['detr'], tiny_cfg('detr'),
                     points=dict(num_general=3, specific=False, query_sampling='normal'))
    calls = record_decoder_queries(model.teacher)
    model.loss(*batch())
    assert [c.shape[1] for c in calls] == [3]


def test_clear_errors(teachers, tmp_path):
    cond = teachers['conditional_detr']
    with pytest.raises(ValueError, match='teacher has 32, the student 64'):
        build_kd(cond, tiny_cfg('conditional_detr', embed_dims=64))
    with pytest.raises(ValueError, match='teacher head has 20 classes, the student head 5'):
        build_kd(cond, tiny_cfg('conditional_detr', num_classes=5))
    with pytest.raises(ValueError, match='same architecture family'):
        build_kd(cond, tiny_cfg('dab_detr'))
    with pytest.raises(ValueError, match='same architecture family'):
        build_kd(teachers['detr'], tiny_cfg('conditional_detr'))
    with pytest.raises(TypeError, match='one teacher'):
        build_kd([cond], tiny_cfg('conditional_detr'))
    with pytest.raises(ValueError, match='classes'):
        build_kd(cond, tiny_cfg('conditional_detr'), classes=tuple(reversed(CLASSES)))
    softmax_student = tiny_cfg('conditional_detr')
    softmax_student['bbox_head']['loss_cls'] = dict(type='CrossEntropyLoss', use_sigmoid=False)
    with pytest.raises(ValueError, match="heads differ: teacher 'sigmoid', student 'softmax'"):
        build_kd(cond, softmax_student)
    with pytest.raises(ValueError, match='gt_loss_weight'):
        build_kd(cond, tiny_cfg('conditional_detr'), gt_loss_weight=-1)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        build_kd(dict(cond, checkpoint=str(tmp_path / 'missing.pth')),
                 tiny_cfg('conditional_detr'))


def test_does_not_mutate_its_config(teachers):
    student = tiny_cfg('detr')
    kept = copy.deepcopy(student)
    build_kd(teachers['detr'], student)
    assert student == kept
