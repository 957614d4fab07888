"""End-to-end amalgamation through the Runner on the embedded data with 2 tiny teachers."""
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.runner import Runner

from mmka.utils import use_teacher_cache

from ..conftest import REPO, load_tool, tiny_run_cfg
from ..models.amalgamators.tiny_setup import T1, T2, save_teacher, student_cfg

KA_2T = osp.join(REPO, 'configs/ka/shapes_2t.py')


@pytest.fixture(scope='module')
def tiny_teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('ka_teachers')
    return [save_teacher(root / 't1.pth', T1, seed=1), save_teacher(root / 't2.pth', T2, seed=2)]


def ka_cfg(shapes_root, work_dir, teachers, config=KA_2T, epochs=1, **model):
    cfg = tiny_run_cfg(config, shapes_root, str(work_dir), epochs=epochs, batch_size=4)
    cfg.model.student = student_cfg(compression=cfg.model.student.get('compression'))
    cfg.model.teachers = teachers
    # Random tiny teachers are never confident: take all their predictions as targets.
    for hook in cfg.model.hooks:
        if hook['type'] == 'TaskAmalgamation':
            hook['targets'] = dict(hook.get('targets', {}), score_thr=0.0, max_targets=8)
    cfg.model.update(model)
    cfg.param_scheduler = []
    return cfg


def _history(runner, key):
    return runner.message_hub.get_scalar(f'train/{key}').data[0]


def test_amalgamation_trains_evaluates_and_extracts(shapes_root, tiny_teachers, tmp_path):
    cfg = ka_cfg(shapes_root, tmp_path / 'ka', tiny_teachers, epochs=3)
    runner = Runner.from_cfg(cfg)
    runner.train()
    for key in ('loss', 'loss_sa_proj', 'loss_sa_enc0', 'loss_ta_cls', 'gt.loss_cls'):
        assert np.isfinite(_history(runner, key)).all(), key
    sa = _history(runner, 'loss_sa_proj')
    assert sa[-3:].mean() < sa[:3].mean()  # the student learns to mimic the teachers

    ckpt = str(tmp_path / 'ka' / 'epoch_3.pth')
    cfg_file = str(tmp_path / 'ka_cfg.py')
    cfg.dump(cfg_file)
    test = load_tool('test')
    metrics = test.main([cfg_file, ckpt, '--work-dir', str(tmp_path / 'eval')])
    assert 0.0 <= metrics['coco/bbox_mAP_50'] <= 1.0

    extract = load_tool('model_converters/extract_student')
    student_ckpt, student_cfg_file = extract.extract(cfg_file, ckpt, str(tmp_path / 'student'))
    standalone = test.main([student_cfg_file, student_ckpt, '--work-dir', str(tmp_path / 'e2')])
    assert standalone == metrics  # the extracted student is the amalgamated one


def test_label_free_amalgamation(shapes_root, tiny_teachers, tmp_path):
    cfg = ka_cfg(shapes_root, tmp_path, tiny_teachers,
                 config=osp.join(REPO, 'configs/ka/shapes_2t-labelfree.py'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    keys = runner.message_hub.log_scalars.keys()
    assert not any(k.startswith('train/gt.') for k in keys)
    assert np.isfinite(_history(runner, 'loss')).all()


def test_code_recipe_trains_with_decaying_amalgamation(shapes_root, tiny_teachers, tmp_path):
    """The authors' recipe: every decoder layer distilled, SA/TA weights decayed to 0."""
    cfg = ka_cfg(shapes_root, tmp_path, tiny_teachers,
                 config=osp.join(REPO, 'configs/ka/shapes_2t-code-recipe.py'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    for key in ('loss_ta_cls', 'd0.loss_ta_cls', 'loss_sa_proj', 'gt.loss_cls'):
        assert np.isfinite(_history(runner, key)).all(), key
    # The scale before the last iteration is 1 - (max_iters - 1) / max_iters.
    assert runner.model.amalgamation_scale == pytest.approx(1 / runner.max_iters)
    sa = _history(runner, 'loss_sa_proj')
    assert sa[-1] < sa[0]  # decayed (and learnt) towards the end


def test_teacher_cache_reproduces_uncached_training(shapes_root, tiny_teachers, tmp_path):
    """Epoch 1 fills the cache, epoch 2 reads it: float32 storage gives the same losses."""
    histories = {}
    for cached in (False, True):
        cfg = ka_cfg(shapes_root, tmp_path / f'cached{cached}', tiny_teachers, epochs=2)
        cfg.randomness = dict(seed=0)
        if cached:
            use_teacher_cache(cfg, str(tmp_path / 'cache'), dtype='float32')
            assert cfg.custom_hooks[-1] == dict(type='TeacherCacheHook')
        runner = Runner.from_cfg(cfg)
        runner.train()
        histories[cached] = _history(runner, 'loss')
    # On the CPU the runs agree to float32 rounding. On a GPU, atomic adds in the backward
    # pass make even two uncached runs drift apart (up to 3.4e-5 relative within the first
    # epoch, before any cache read, on an H100: logs/tests.log in
    # benchmarks/results/gpu_check_2026-12-05_tests_logs.tar.gz), so there the bound is 30
    # times that.
    on_gpu = next(runner.model.parameters()).device.type != 'cpu'
    np.testing.assert_allclose(histories[True], histories[False], rtol=1e-3 if on_gpu else 1e-6)
    stats = runner.model.teacher_cache.stats
    assert stats['misses'] > 0 and stats['hits'] == stats['misses']
    log = ''.join(open(p).read() for p in glob.glob(str(tmp_path / 'cachedTrue/*/*.log')))
    assert 'the training pipeline is cacheable' in log and f"{stats['hits']} hits" in log


def test_teacher_cache_refuses_a_random_pipeline(shapes_root, tiny_teachers, tmp_path):
    cfg = ka_cfg(shapes_root, tmp_path, tiny_teachers)
    cfg.train_dataloader.dataset.pipeline.insert(2, dict(type='RandomFlip', prob=0.5))
    use_teacher_cache(cfg, str(tmp_path / 'cache'))
    with pytest.raises(ValueError, match=r"\['RandomFlip'\].*per_outcome"):
        Runner.from_cfg(cfg).train()


def test_amalgamation_resume(shapes_root, tiny_teachers, tmp_path):
    first = Runner.from_cfg(ka_cfg(shapes_root, tmp_path, tiny_teachers, epochs=1))
    first.train()
    k = first.iter
    cfg = ka_cfg(shapes_root, tmp_path, tiny_teachers, epochs=2)
    cfg.resume = True
    second = Runner.from_cfg(cfg)
    second.train()
    assert second.iter == 2 * k
    steps = {int(s['step']) for s in second.optim_wrapper.optimizer.state.values()}
    assert steps == {2 * k}


def test_amalgamation_two_processes_gloo(shapes_root, tiny_teachers, tmp_path):
    """tools/dist_train.sh with 2 gloo processes, a slim student and a teacher cache (which
    tools/train.py gives its TeacherCacheHook)."""
    cfg = ka_cfg(shapes_root, tmp_path, tiny_teachers,
                 config=osp.join(REPO, 'configs/ka/shapes_2t-slim.py'),
                 teacher_cache=dict(dir=str(tmp_path / 'cache')))
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    env = dict(os.environ, PYTHON=sys.executable, PORT='29623', OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', osp.join(REPO, 'tools/dist_train.sh'), str(cfg_file), '2'],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    log = ''.join(open(p).read() for p in glob.glob(str(tmp_path / '*' / '*.log')))
    assert 'GPU number: 2' in log and 'loss_sa_enc0' in log
    assert 'the training pipeline is cacheable' in log and ' 0 hits' in log
    assert glob.glob(str(tmp_path / 'cache/teacher1/*/*.bin'))
