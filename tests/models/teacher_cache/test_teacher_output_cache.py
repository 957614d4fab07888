"""Teacher output cache: a cached step is the uncached step; what it refuses, and DDP."""
import glob
import os.path as osp

import pytest
import torch

from mmdet.registry import MODELS

from mmka.models.teacher_cache import CacheFileError

from ...distributed_utils import run_gloo
from ..amalgamators.kd_setup import build_kd, save_model, tiny_cfg
from ..amalgamators.tiny_setup import CLASSES, T1, T2, batch, save_teacher, student_cfg

SA_TA = [dict(type='SequenceAmalgamation'),
         dict(type='TaskAmalgamation', targets=dict(score_thr=0.0, max_targets=8))]
POINT_TA = [dict(type='SequenceAmalgamation'),
            dict(type='PointTaskAmalgamation', points=dict(num_general=5))]


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('cache_teachers')
    return [save_teacher(root / 't1.pth', T1, seed=1), save_teacher(root / 't2.pth', T2, seed=2)]


def build(teachers, cache_dir, hooks=SA_TA, dtype='float32', checked=True, options=None,
          **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='KADETRAmalgamator', student=student_cfg(**kwargs), teachers=teachers,
        classes=CLASSES, hooks=hooks, teacher_cache=dict(dir=str(cache_dir), dtype=dtype),
        **(options or {})))
    model.init_weights()
    model.train()
    if checked:
        model.teacher_cache.check_pipeline([])
    return model


def padded_batch(ids=(0, 1)):
    """Two images of different sizes in one padded batch, named by img_id."""
    inputs, samples = batch()
    for sample, img_id in zip(samples, ids):
        sample.set_metainfo(dict(img_id=img_id))
    return inputs, samples


def step(model, inputs, samples, cached=True):
    """Losses and student gradients of one step (dropout seeded), with or without cache."""
    cache = model.teacher_cache
    if not cached:
        model.teacher_cache = None
    try:
        torch.manual_seed(1)
        losses = model.loss(inputs, samples)
    finally:
        model.teacher_cache = cache
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grads = {n: p.grad.clone() for n, p in model.student.named_parameters()
             if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return {k: v.detach() for k, v in losses.items()}, grads


def teacher_batch_sizes(model):
    """Batch size of every teacher backbone call, per teacher, in call order."""
    calls = {i: [] for i in range(len(model.teacher_list))}
    for i, teacher in enumerate(model.teacher_list):
        teacher.backbone.register_forward_pre_hook(
            lambda module, args, i=i: calls[i].append(args[0].shape[0]))
    return calls


def assert_same(a, b, rtol=0.0, atol=0.0):
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=rtol, atol=atol, msg=key)


@pytest.mark.parametrize('hooks, student, options', [
    (SA_TA, {}, {}),
    (POINT_TA, {}, {}),  # the teachers' encoder call arguments are cached too
    (SA_TA, dict(compression=dict(strategy='redundancy')), {}),  # the teachers' guide X_T
    # The teachers' predictions that become the pseudo-labels of L_d.
    (SA_TA, {}, dict(pseudo_labels=dict(score_thr=0.0, max_targets=8))),
])
def test_cached_step_equals_uncached_step(teachers, tmp_path, hooks, student, options):
    model = build(teachers, tmp_path, hooks=hooks, options=options, **student)
    calls = teacher_batch_sizes(model)
    inputs, samples = padded_batch()
    reference = step(model, inputs, samples, cached=False)
    assert calls == {0: [2], 1: [2]}
    filled = step(model, inputs, samples)  # misses: the teachers run and the files are written
    assert model.teacher_cache.stats['misses'] == 4 and calls == {0: [2, 2], 1: [2, 2]}
    assert len(glob.glob(str(tmp_path / 'teacher*/*/*.bin'))) == 4
    served = step(model, inputs, samples)  # hits: no teacher runs
    assert model.teacher_cache.stats['hits'] == 4 and calls == {0: [2, 2], 1: [2, 2]}
    for result in (filled, served):  # float32 storage: the same numbers
        assert_same(result[0], reference[0])
        assert_same(result[1], reference[1])


def test_float16_storage_error(teachers, tmp_path):
    """float16 keeps 11 significant bits; the loss error stays near that (measured here)."""
    model = build(teachers, tmp_path, dtype='float16')
    inputs, samples = padded_batch()
    reference = step(model, inputs, samples, cached=False)
    step(model, inputs, samples)
    served = step(model, inputs, samples)
    assert_same(served[0], reference[0], rtol=2e-3, atol=0)  # measured: <= 5e-4
    # Per gradient tensor, relative to its norm (measured: <= 1.5e-3), with an absolute
    # floor for the key-projection biases, whose exact gradient is 0 (softmax ignores them)
    # and whose computed one is rounding noise of about 1e-10.
    for name, grad in reference[1].items():
        assert (served[1][name] - grad).norm() <= 1e-2 * grad.norm() + 1e-7, name
    sizes = [osp.getsize(f) for f in glob.glob(str(tmp_path / 'teacher0/*/*.bin'))]
    model32 = build(teachers, tmp_path / 'fp32')
    step(model32, inputs, samples)
    sizes32 = [osp.getsize(f) for f in glob.glob(str(tmp_path / 'fp32/teacher0/*/*.bin'))]
    assert max(sizes) < 0.6 * min(sizes32)  # half the bytes, plus a small header


def test_partly_filled_cache_runs_teachers_on_missing_images_only(teachers, tmp_path):
    """A resumed run: image 0 was cached before the interruption, image 1 was not."""
    model = build(teachers, tmp_path)
    inputs, samples = padded_batch()
    reference = step(model, inputs, samples, cached=False)
    step(model, inputs[:1], samples[:1])  # same padded shape: the same key as in the batch
    calls = teacher_batch_sizes(model)
    model.teacher_cache.stats.update(hits=0, misses=0)
    resumed = step(model, inputs, samples)
    assert calls == {0: [1], 1: [1]}
    assert model.teacher_cache.stats['hits'] == 2 and model.teacher_cache.stats['misses'] == 2
    # The subset forward may round differently from the batch forward in the last bits.
    assert_same(resumed[0], reference[0], rtol=1e-5, atol=1e-6)
    assert_same(resumed[1], reference[1], rtol=1e-4, atol=1e-6)


def test_another_input_of_the_same_image_is_another_entry(teachers, tmp_path):
    model = build(teachers, tmp_path)
    inputs, samples = padded_batch()
    step(model, inputs, samples)
    for sample in samples:  # as if another batch padded it to another shape
        sample.set_metainfo(dict(batch_input_shape=(64, 72)))
    wider = torch.nn.functional.pad(inputs, (0, 8))
    step(model, wider, samples)
    assert model.teacher_cache.stats['hits'] == 0
    assert len(glob.glob(str(tmp_path / 'teacher0/*/*.bin'))) == 4


def test_kd_detr_caches_the_teacher_memory(tmp_path):
    teacher = save_model(tmp_path / 't.pth', tiny_cfg('conditional_detr', enc_layers=2), seed=1)
    model = build_kd(teacher, tiny_cfg('conditional_detr'),
                     teacher_cache=dict(dir=str(tmp_path / 'cache'), dtype='float32'))
    model.train()
    model.teacher_cache.check_pipeline([])
    inputs, samples = padded_batch()
    reference = step(model, inputs, samples, cached=False)
    step(model, inputs, samples)
    served = step(model, inputs, samples)  # the same random points: seeded in step()
    assert model.teacher_cache.stats['hits'] == 2
    assert_same(served[0], reference[0])
    assert_same(served[1], reference[1])


def test_other_teacher_checkpoint_is_refused(teachers, tmp_path):
    model = build(teachers, tmp_path)
    step(model, *padded_batch())
    retrained = save_teacher(tmp_path / 'retrained.pth', T1, seed=5)
    model = build([retrained, teachers[1]], tmp_path)  # building, evaluating: no cache use
    model.eval()
    model(*padded_batch(), mode='predict')
    with pytest.raises(ValueError, match=r'teacher0/meta.json.*checkpoint_sha256') as err:
        step(model, *padded_batch())  # training: refused
    assert 'Delete' in str(err.value)
    # Another precision is another setup too.
    with pytest.raises(ValueError, match='storage_dtype'):
        step(build(teachers, tmp_path, dtype='float16'), *padded_batch())


def test_corrupt_entry_is_refused(teachers, tmp_path):
    model = build(teachers, tmp_path)
    inputs, samples = padded_batch()
    step(model, inputs, samples)
    victim = sorted(glob.glob(str(tmp_path / 'teacher1/*/*.bin')))[0]
    with open(victim, 'r+b') as f:
        f.seek(-4, 2)
        f.write(b'\x00\x01\x02\x03')
    with pytest.raises(CacheFileError, match='corrupt') as err:
        step(model, inputs, samples)
    assert victim in str(err.value)


def test_cache_waits_for_the_pipeline_check_and_checks_its_options(teachers, tmp_path):
    model = build(teachers, tmp_path, checked=False)
    with pytest.raises(RuntimeError, match='TeacherCacheHook'):
        step(model, *padded_batch())
    with pytest.raises(ValueError, match='RandomFlip'):
        model.teacher_cache.check_pipeline([dict(type='RandomFlip', prob=0.5)])
    assert not model.teacher_cache.pipeline_checked
    cfg = dict(type='KADETRAmalgamator', student=student_cfg(), teachers=teachers,
               classes=CLASSES, hooks=SA_TA)
    with pytest.raises(TypeError, match='teacher_cache must be a dict'):
        MODELS.build(dict(cfg, teacher_cache=str(tmp_path)))
    with pytest.raises(ValueError, match="dtype must be one of.*'int8'"):
        MODELS.build(dict(cfg, teacher_cache=dict(dir=str(tmp_path), dtype='int8')))
    with pytest.raises(ValueError, match="mode must be one of.*'always'"):
        MODELS.build(dict(cfg, teacher_cache=dict(dir=str(tmp_path), mode='always')))


def test_samples_without_identity_are_refused(teachers, tmp_path):
    model = build(teachers, tmp_path)
    with pytest.raises(ValueError, match='img_id or img_path'):
        step(model, *batch())


def _ddp_steps(rank, teachers, cache_dir):
    """Each rank: its own image and one both ranks have (a padded DDP sampler repeats one)."""
    model = build(teachers, cache_dir)
    inputs, samples = padded_batch(ids=(10 + rank, 99))
    reference = step(model, inputs, samples, cached=False)
    step(model, inputs, samples)
    served = step(model, inputs, samples)
    # If the other rank wrote image 99 first, this rank's fill ran its teachers on its own
    # image alone, which may round differently from the two-image batch in the last bits.
    same = all(torch.allclose(served[0][k], reference[0][k], rtol=1e-5, atol=1e-6)
               for k in reference[0])
    return dict(same=same, hits=model.teacher_cache.stats['hits'],
                misses=model.teacher_cache.stats['misses'])


def test_two_gloo_ranks_share_a_cache(teachers, tmp_path):
    results = run_gloo(_ddp_steps, tmp_path, teachers, str(tmp_path / 'cache'))
    for result in results:  # image 99 may have been written by the other rank first
        assert result['same'] and result['hits'] + result['misses'] == 8
        assert 2 <= result['misses'] <= 4
    # Images 10, 11 and the shared 99, per teacher; no temporary file left behind.
    assert len(glob.glob(str(tmp_path / 'cache/teacher*/*/*.bin'))) == 6
    assert not glob.glob(str(tmp_path / 'cache/**/*.tmp*'), recursive=True)
