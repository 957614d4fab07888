"""End-to-end: real training, evaluation and resume through the Runner on embedded data."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner

from ..conftest import REPO, SHAPES_T1OF2, load_tool, tiny_run_cfg


@pytest.fixture(scope='module')
def trained_teacher(shapes_root, tmp_path_factory):
    """One epoch of teacher 1/2 on the tiny dataset; returns (cfg, checkpoint)."""
    work_dir = str(tmp_path_factory.mktemp('teacher'))
    cfg = tiny_run_cfg(SHAPES_T1OF2, shapes_root, work_dir, epochs=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    return cfg, ckpt


def test_training_then_cocometric_evaluation(trained_teacher):
    cfg, ckpt = trained_teacher
    cfg = cfg.copy()
    cfg.load_from = ckpt
    metrics = Runner.from_cfg(cfg).test()
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'):
        assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 1.0


def test_tools_test_evaluates_checkpoint(trained_teacher, tmp_path, monkeypatch):
    cfg, ckpt = trained_teacher
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    out = tmp_path / 'preds.pkl'
    metrics = load_tool('test').main(
        [str(cfg_file), ckpt, '--work-dir', str(tmp_path), '--out', str(out)])
    assert 'coco/bbox_mAP_50' in metrics
    assert out.stat().st_size > 0


def test_resume_continues_iteration_and_optimizer(shapes_root, tmp_path):
    """Stop after epoch 1 (k iterations), resume, finish epoch 2 at iteration 2k.

    AdamW keeps a per-parameter step count: after a real resume it reaches 2k; a run that
    restarted the optimizer (or failed to load its state) would end at k.
    """
    cfg = tiny_run_cfg(SHAPES_T1OF2, shapes_root, str(tmp_path), epochs=1)
    first = Runner.from_cfg(cfg)
    first.train()
    k = first.iter
    assert k > 0

    cfg2 = tiny_run_cfg(SHAPES_T1OF2, shapes_root, str(tmp_path), epochs=2)
    cfg2.resume = True  # what `tools/train.py --resume` sets
    second = Runner.from_cfg(cfg2)
    second.train()
    assert second.iter == 2 * k
    state = second.optim_wrapper.optimizer.state
    steps = {int(s['step']) for s in state.values()}
    assert steps == {2 * k}


def test_train_cli_resume_from_explicit_checkpoint(shapes_root, tmp_path):
    cfg = tiny_run_cfg(SHAPES_T1OF2, shapes_root, str(tmp_path), epochs=1)
    Runner.from_cfg(cfg).train()
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    train = load_tool('train')
    args = train.parse_args([str(cfg_file), '--resume', str(tmp_path / 'epoch_1.pth')])
    built = train.build_config(args)
    assert built.resume is True and built.load_from.endswith('epoch_1.pth')
    train.main([str(cfg_file), '--resume', str(tmp_path / 'epoch_1.pth')])
    assert osp.isfile(tmp_path / 'epoch_2.pth')


def test_checkpoint_loads_with_weights_only(trained_teacher):
    """mmengine checkpoints need allow-listed classes under torch>=2.6 (weights_only)."""
    _, ckpt = trained_teacher
    data = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert 'message_hub' in data and 'optimizer' in data


def test_dist_train_two_processes_gloo(shapes_root, tmp_path):
    cfg = tiny_run_cfg(SHAPES_T1OF2, shapes_root, str(tmp_path), epochs=1, batch_size=4)
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    env = dict(os.environ, PYTHON=sys.executable, PORT='29611', OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools/dist_train.sh'), str(cfg_file), '2'],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    logs = glob.glob(str(tmp_path / '*' / '*.log'))
    text = ''.join(open(p).read() for p in logs)
    assert 'Distributed launcher: pytorch' in text
    assert 'Distributed training: True' in text
    assert 'GPU number: 2' in text  # mmengine's name for the world size
    # The sampler shards the data: each rank runs ceil(num_images / (2 * 4)) iterations.
    num_images = len(Runner.from_cfg(cfg).train_dataloader.dataset)
    iters = -(-num_images // 8)
    assert f'Epoch(train) [1][{iters}/{iters}]' in text


def test_test_tool_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        load_tool('test').main([SHAPES_T1OF2, str(tmp_path / 'no_such.pth')])


def test_train_tool_missing_config_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing_cfg.py'):
        load_tool('train').main([str(tmp_path / 'missing_cfg.py')])


def test_train_tool_amp_switches():
    """--no-amp turns the paper configs' AMP off (CPU); --amp turns it on; not both."""
    train = load_tool('train')
    voc = osp.join(REPO, 'configs/baselines/detr-prenorm_r50_4xb8-200e_voc0712.py')
    assert train.build_config(train.parse_args([voc])).optim_wrapper.type == 'AmpOptimWrapper'
    off = train.build_config(train.parse_args([voc, '--no-amp'])).optim_wrapper
    assert off.type == 'OptimWrapper' and 'loss_scale' not in off
    assert off.clip_grad.max_norm == 0.1 and off.paramwise_cfg  # the rest is kept
    on = train.build_config(train.parse_args([SHAPES_T1OF2, '--amp'])).optim_wrapper
    assert on.type == 'AmpOptimWrapper' and on.loss_scale == 'dynamic'
    with pytest.raises(ValueError, match='contradict'):
        train.build_config(train.parse_args([voc, '--amp', '--no-amp']))
