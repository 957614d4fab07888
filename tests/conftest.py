"""Shared fixtures: a tiny embedded dataset and helpers to run the tools in-process."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

from mmdet.utils import register_all_modules

import mmka  # noqa: F401
from mmka.datasets import generate_shapes_dataset, write_class_agnostic_splits
from mmka.utils import set_data_root, set_num_workers

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Tests build models and datasets outside a Runner: make mmdet the default scope.
register_all_modules(init_default_scope=True)

SHAPES_BASELINE = osp.join(REPO, 'configs/baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py')
SHAPES_T1OF2 = osp.join(REPO,
                        'configs/teachers/conditional-detr_r18tiny_1xb16-30e_shapes-t1of2.py')


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    """A small embedded dataset (40 train / 20 val images at 128 px), generated once, with
    the class-agnostic annotations of the pre-training config (configs/pretrain/)."""
    root = tmp_path_factory.mktemp('shapes')
    generate_shapes_dataset(root, num_train=40, num_val=20, image_size=128, seed=0)
    write_class_agnostic_splits(root, name='shape')
    return str(root) + '/'


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (tools are scripts, not package modules)."""
    spec = importlib.util.spec_from_file_location(f'mmka_tool_{name}',
                                                  osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_run_cfg(config: str, data_root: str, work_dir: str, epochs: int = 1,
                 batch_size: int = 8) -> Config:
    """``config`` retargeted to ``data_root``: short schedule, in-process data loading."""
    cfg = set_num_workers(set_data_root(Config.fromfile(config), data_root), 0)
    cfg.work_dir = work_dir
    cfg.train_dataloader.batch_size = batch_size
    cfg.val_dataloader.batch_size = batch_size
    cfg.test_dataloader.batch_size = batch_size
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    return cfg
