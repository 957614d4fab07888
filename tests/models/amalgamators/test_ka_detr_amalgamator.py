import copy

import pytest
import torch

from mmdet.registry import MODELS

from mmka.models.amalgamation_hooks.sequence_utils import map_to_tokens, neck_tokens

from .tiny_setup import CLASSES, T1, T2, batch, save_teacher, student_cfg

HOOKS = [dict(type='SequenceAmalgamation'), dict(type='TaskAmalgamation')]


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('teachers')
    return [save_teacher(root / 't1.pth', T1, seed=1), save_teacher(root / 't2.pth', T2, seed=2)]


def build(teachers, **kwargs):
    cfg = dict(type='KADETRAmalgamator', student=student_cfg(), teachers=teachers,
               classes=CLASSES, hooks=HOOKS)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_losses_cover_every_term_and_backpropagate(teachers):
    model = build(teachers)
    model.train()
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    assert {'loss_sa_proj', 'loss_sa_enc0', 'loss_ta_cls', 'loss_ta_bbox',
            'loss_ta_iou', 'gt.loss_cls'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert model.student.neck[1].convs[0].conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teachers.parameters())


def test_teachers_frozen_in_eval_and_unchanged_by_optimizer(teachers):
    model = build(teachers)
    model.train()
    assert not model.teachers.training and all(not m.training for m in model.teachers.modules())
    assert model.student.training
    assert not any(p.requires_grad for p in model.teachers.parameters())
    before = copy.deepcopy(model.teachers.state_dict())
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs, samples = batch()
    loss = sum(v for k, v in model.loss(inputs, samples).items() if 'loss' in k)
    loss.backward()
    optim.step()
    for key, value in model.teachers.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_checkpoint_holds_student_only_and_reloads(teachers):
    model = build(teachers)
    state = model.state_dict()
    assert state and not any(k.startswith('teachers.') for k in state)
    assert any(k.startswith('student.') for k in state)
    other = build(teachers)
    incompatible = other.load_state_dict(state, strict=True)
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    for key, value in state.items():
        torch.testing.assert_close(other.state_dict()[key], value)


def test_label_free_needs_no_annotations(teachers):
    model = build(teachers, gt_loss_weight=0.0)
    inputs, samples = batch()
    for s in samples:
        del s.gt_instances
    losses = model.loss(inputs, samples)
    assert not any(k.startswith('gt.') for k in losses)
    assert torch.isfinite(sum(v for k, v in losses.items() if 'loss' in k))


def test_no_teacher_prediction_passes_filter(teachers):
    hooks = [dict(type='TaskAmalgamation', targets=dict(score_thr=0.999))]
    model = build(teachers, hooks=hooks)
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    for key in ('loss_ta_bbox', 'loss_ta_iou'):
        assert losses[key].item() == 0.0 and losses[key].requires_grad


def test_predict_delegates_to_student(teachers):
    model = build(teachers)
    model.eval()
    inputs, samples = batch()
    with torch.no_grad():
        ours = model(inputs, copy.deepcopy(samples), mode='predict')
        ref = model.student.predict(inputs, copy.deepcopy(samples))
    torch.testing.assert_close(ours[0].pred_instances.bboxes, ref[0].pred_instances.bboxes)


@pytest.mark.parametrize('train_guide', ['teachers', 'student'])
def test_compressing_student_guide_in_training(teachers, train_guide):
    """P_slim is chosen on X_T (paper §III-B3) or, as an option, on the student's own X_S."""
    student = student_cfg()
    student['compression'] = dict(strategy='redundancy', train_guide=train_guide)
    model = build(teachers, student=student)
    model.train()
    inputs, samples = batch()
    compressor = model.student.compressor
    guides = []
    select = compressor.select
    compressor.select = lambda guide, mask=None: guides.append(guide) or select(guide, mask)
    losses = model.loss(inputs, samples)
    with torch.no_grad():
        teacher_seq = torch.cat([neck_tokens(t.neck(t.backbone(inputs)))
                                 for t in model.teacher_list], dim=1)
        student_seq = torch.cat([map_to_tokens(f) for f in model.student.extract_feat(inputs)],
                                dim=1)
    expected = teacher_seq if train_guide == 'teachers' else student_seq
    assert len(guides) == 1
    torch.testing.assert_close(guides[0], expected)
    kept = model.student.last_kept_indices
    n = kept.shape[1]
    assert kept.shape == (2, n) and n * 2 == teacher_seq.shape[1]
    assert torch.isfinite(losses['loss_sa_enc0'])
    # Evaluation always chooses on X_S (recomputed: eval-mode norms differ).
    model.eval()
    guides.clear()
    with torch.no_grad():
        model(inputs, samples, mode='predict')
        student_seq = torch.cat([map_to_tokens(f) for f in model.student.extract_feat(inputs)],
                                dim=1)
    torch.testing.assert_close(guides[0], student_seq)


def test_eval_guide_teachers_evaluates_on_the_training_choice(teachers):
    """``eval_guide='teachers'`` (diagnostic): evaluation keeps the tokens training keeps
    on the same batch, where the paper's rule (X_S) keeps others; the student alone, without
    its teachers, refuses to evaluate."""
    inputs, samples = batch()
    kept = {}
    for eval_guide in ('student', 'teachers'):
        student = student_cfg()
        student['compression'] = dict(strategy='redundancy', eval_guide=eval_guide)
        torch.manual_seed(0)
        model = build(teachers, student=student)
        model.train()
        model.loss(inputs, copy.deepcopy(samples))
        kept['train'] = model.student.last_kept_indices
        model.eval()
        with torch.no_grad():
            model(inputs, copy.deepcopy(samples), mode='predict')
        kept[eval_guide] = model.student.last_kept_indices
        assert all(not r.outputs for r in model._guide_recorders)  # nothing outlives predict
    torch.testing.assert_close(kept['teachers'], kept['train'])
    assert not torch.equal(kept['student'], kept['train'])  # the mismatch it measures
    with pytest.raises(ValueError, match="eval_guide='teachers'.*inside its amalgamator"):
        with torch.no_grad():
            model.student.predict(inputs, copy.deepcopy(samples))


def test_cheap_teacher_options_change_precision_not_results(teachers):
    """bf16 teachers: close to float32 losses; channels-last: the same arithmetic."""
    inputs, samples = batch()
    losses = {}
    for name, options in dict(fp32={}, cl=dict(teacher_channels_last=True),
                              bf16=dict(teacher_dtype='bfloat16')).items():
        torch.manual_seed(0)
        model = build(teachers, **options)
        model.train()
        torch.manual_seed(1)  # the same dropout masks in every run
        losses[name] = {k: v.item() for k, v in model.loss(inputs, samples).items()}
    teacher_param = next(build(teachers, teacher_channels_last=True).teachers['0']
                         .backbone.parameters())
    assert teacher_param.is_contiguous(memory_format=torch.channels_last)
    for key, value in losses['fp32'].items():
        assert losses['cl'][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
        assert losses['bf16'][key] == pytest.approx(value, rel=0.1, abs=1e-2), key
    # bf16 is a real change of precision, not silently ignored:
    assert any(losses['bf16'][k] != losses['fp32'][k] for k in losses['fp32']
               if k.startswith('loss_sa'))
    with pytest.raises(ValueError, match='float64'):
        build(teachers, teacher_dtype='float64')


def test_bad_inputs_are_named(teachers, tmp_path):
    missing = dict(teachers[0], checkpoint=str(tmp_path / 'nope.pth'))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        build([missing, teachers[1]])
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='corrupt.pth'):
        build([dict(teachers[0], checkpoint=str(corrupt)), teachers[1]])
    overlap = dict(teachers[1], classes=T2[:-1] + (T1[0], ))
    with pytest.raises(ValueError, match=repr(T1[0])):
        build([teachers[0], overlap])
    unknown = dict(teachers[1], classes=T2[:-1] + ('unicorn', ))
    with pytest.raises(ValueError, match='unicorn'):
        build([teachers[0], unknown])
    with pytest.raises(ValueError, match='embed dims'):
        build([teachers[0], teachers[1]], student=student_cfg(embed_dims=64))
    with pytest.raises(ValueError, match='encoder layers'):
        build([teachers[0], teachers[1]], student=student_cfg(enc_layers=2))
    with pytest.raises(ValueError, match='num_teachers'):
        build([teachers[0], teachers[1]], student=student_cfg(num_teachers=3))


def test_sag_baseline_with_plain_student(teachers):
    from .tiny_setup import tiny_model_cfg
    plain = tiny_model_cfg(len(CLASSES))
    model = build(teachers, student=plain, hooks=[dict(type='SequenceAggregation')])
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    assert {'loss_sag_proj', 'loss_sag_enc0'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    # The aggregation projections W_a are trained with the student.
    w_a = model.hooks[0].projections['neck'][0].weight
    assert w_a.requires_grad and w_a.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='plain student'):
        build(teachers, hooks=[dict(type='SequenceAggregation')])


@pytest.mark.parametrize('scale', [0.25, 0.3])
def test_amalgamation_scale_multiplies_hook_losses_not_gt(teachers, scale):
    """Every hook loss is exactly ``scale`` times its value at 1.0; ``gt.*`` is untouched."""
    # All teacher predictions are targets: the TA box terms are not 0 (and can scale).
    hooks = [dict(type='SequenceAmalgamation'),
             dict(type='TaskAmalgamation', targets=dict(score_thr=0.0, max_targets=8))]
    model = build(teachers, hooks=hooks)
    model.train()
    inputs, samples = batch()
    losses = {}
    for value in (1.0, scale):
        model.amalgamation_scale = value
        torch.manual_seed(1)  # the same dropout masks in both runs
        losses[value] = model.loss(inputs, samples)
    full, scaled = losses[1.0], losses[scale]
    assert set(scaled) == set(full)
    assert {'loss_sa_proj', 'loss_sa_enc0', 'loss_ta_cls', 'loss_ta_bbox', 'loss_ta_iou',
            'gt.loss_cls', 'gt.loss_bbox'} <= set(full)
    for key, value in full.items():
        assert value.item() != 0, key
        expected = value if key.startswith('gt.') else value * scale
        torch.testing.assert_close(scaled[key], expected, rtol=0, atol=0,
                                   msg=lambda m, key=key: f'{key}: {m}')
