"""SA (eq. 2) against a hand-written reference on padded batches, with and without compression."""
import pytest
import torch

from mmdet.registry import MODELS
from mmka.models.amalgamators.base_distiller import run_detector

from ..amalgamators.tiny_setup import CLASSES, T1, T2, batch, save_teacher, student_cfg


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('sa_teachers')
    return [save_teacher(root / 't1.pth', T1, seed=1), save_teacher(root / 't2.pth', T2, seed=2)]


def _valid_cells(sample, fh, fw):
    """(fh, fw) bool: feature cells whose nearest source pixel lies inside the image."""
    batch_h, batch_w = sample.batch_input_shape
    h, w = sample.img_shape
    rows = (torch.arange(fh) * batch_h / fh).floor() < h
    cols = (torch.arange(fw) * batch_w / fw).floor() < w
    return rows[:, None] & cols[None, :]


def _reference(pairs, samples, fh, fw):
    """(1/N) Σ_i MSE(norm(s_i), norm(t_i)) with statistics over valid tokens only."""
    valid = torch.stack([_valid_cells(s, fh, fw).flatten() for s in samples])  # (B, n)

    def norm(x):
        tokens = x[valid]  # (num_valid, C): padding removed image by image
        return (tokens - tokens.mean(0)) / torch.sqrt(tokens.var(0, unbiased=False) + 1e-5)

    losses = [((norm(s) - norm(t)) ** 2).mean() for s, t in pairs]
    return sum(losses) / len(losses)


def _run(teachers, compression=None, **sa_options):
    model = MODELS.build(dict(type='KADETRAmalgamator', student=student_cfg(
        compression=compression), teachers=teachers, classes=CLASSES,
        hooks=[dict(type='SequenceAmalgamation', **sa_options)]))
    model.init_weights()
    model.train()
    hook = model.hooks[0]
    inputs, samples = batch(sizes=((64, 64), (40, 56)))
    with torch.no_grad():
        for teacher in model.teacher_list:
            model._run_teacher(teacher, inputs, samples)
        with model._compression_guide():
            run_detector(model.student, inputs, samples)
    return model, hook, samples


def test_sa_equals_reference_on_padded_batch(teachers):
    model, hook, samples = _run(teachers)
    neck = [hook.student_recorder[f'neck.{t}'][-1] for t in range(2)]
    fh, fw = neck[0].shape[-2:]
    assert not _valid_cells(samples[1], fh, fw).all()  # the batch really is padded
    tok = lambda m: m.flatten(2).transpose(1, 2)
    proj_pairs = [(tok(neck[t]), tok(rec['neck'][-1]))
                  for t, rec in enumerate(hook.teacher_recorders)]
    enc = model.student.encoder_layer_segments(hook.student_recorder['encoder.layers.0'])
    enc_pairs = [(enc[:, t], rec['encoder.layers.0'])
                 for t, rec in enumerate(hook.teacher_recorders)]
    losses = hook.loss(model.student, samples)
    torch.testing.assert_close(losses['loss_sa_proj'], _reference(proj_pairs, samples, fh, fw))
    torch.testing.assert_close(losses['loss_sa_enc0'], _reference(enc_pairs, samples, fh, fw))


def test_sa_with_compression_gathers_teachers_with_student_indices(teachers):
    model, hook, samples = _run(teachers, compression=dict(strategy='redundancy'))
    kept = model.student.last_kept_indices  # (B, n) into the 2n-token sequence
    fh, fw = hook.student_recorder['neck.0'][-1].shape[-2:]
    n = fh * fw
    assert kept.shape == (2, n) and bool(((kept % n) == torch.arange(n)).all())
    assert bool((kept >= n).any())  # some positions keep the second segment
    student_seq = hook.student_recorder['encoder.layers.0']  # (B, n, C) compressed
    teacher_cat = torch.cat([rec['encoder.layers.0'] for rec in hook.teacher_recorders], 1)
    gathered = torch.stack([teacher_cat[b, kept[b]] for b in range(2)])  # by hand
    losses = hook.loss(model.student, samples)
    torch.testing.assert_close(losses['loss_sa_enc0'],
                               _reference([(student_seq, gathered)], samples, fh, fw))
    # In training, the teachers' concatenated projections X_T chose P_slim (image 0 has no
    # padding, so selecting without a mask gives the same answer).
    guide = torch.cat([rec['neck'][-1].flatten(2).transpose(1, 2)
                       for rec in model._guide_recorders], 1)
    assert torch.equal(kept[0], model.student.compressor.select(guide, None)[0])


@pytest.mark.parametrize('compression', [None, dict(strategy='redundancy')])
def test_sum_reduction_is_the_sum_over_teachers(teachers, compression):
    """'sum' (the authors' code): Σ_i of the per-teacher terms, N = 2 times 'mean'."""
    model, hook, samples = _run(teachers, compression, reduction='sum', loss_weight=0.5)
    summed = hook.loss(model.student, samples)
    hook.reduction = 'mean'
    mean = hook.loss(model.student, samples)
    assert set(summed) == {'loss_sa_proj', 'loss_sa_enc0'}
    for key, value in mean.items():
        torch.testing.assert_close(summed[key], 2 * value)
    if compression is None:  # the uncompressed projection term, by hand: Σ_i, not (1/N) Σ_i
        neck = [hook.student_recorder[f'neck.{t}'][-1] for t in range(2)]
        fh, fw = neck[0].shape[-2:]
        tok = lambda m: m.flatten(2).transpose(1, 2)
        pairs = [(tok(neck[t]), tok(rec['neck'][-1]))
                 for t, rec in enumerate(hook.teacher_recorders)]
        per_teacher = [_reference([pair], samples, fh, fw) for pair in pairs]
        torch.testing.assert_close(summed['loss_sa_proj'], 0.5 * sum(per_teacher))
    with pytest.raises(ValueError, match="'max'"):
        MODELS.build(dict(type='SequenceAmalgamation', reduction='max'))


@pytest.mark.parametrize('hook', ['SequenceAmalgamation', 'SequenceAggregation'])
def test_hinted_layer_options_are_checked(hook):
    with pytest.raises(TypeError, match="'first'"):
        MODELS.build(dict(type=hook, encoder_layers='first'))
    with pytest.raises(ValueError, match='hints nothing'):
        MODELS.build(dict(type=hook, projection=False, encoder_layers=[]))
