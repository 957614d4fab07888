"""Small helpers to retarget a loaded mmengine config (demo, tests, benchmarks)."""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
_EVALUATORS = ('val_evaluator', 'test_evaluator')


def load_model_cfg(path: str, options: Optional[dict] = None) -> dict:
    """The ``model`` dict of the config at ``path``, for nesting in another config.

    Amalgamation configs take their student from a detector config this way:
    ``student = load_model_cfg('{{ fileDirname }}/../baselines/<raw_ext config>.py')``.

    Args:
        path (str): a config file.
        options (dict, optional): changes in the form of ``--cfg-options``, keys relative
            to ``model``, e.g. ``{'encoder.num_layers': 1, 'neck.in_channels': [64]}``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config {path!r} does not exist.')
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict({f'model.{key}': value for key, value in options.items()})
    return cfg.model.to_dict()


def set_data_root(cfg: Config, data_root: str) -> Config:
    """Point every dataloader and COCO evaluator of ``cfg`` at ``data_root`` (in place).

    Annotation files keep their path relative to the data root; evaluator ``ann_file``\\ s,
    which mmdet gives as ``data_root + relative path``, are rebuilt the same way.
    """
    old_root = cfg.train_dataloader.dataset.data_root
    for loader in _LOADERS:
        if loader in cfg:
            cfg[loader].dataset.data_root = data_root
    for name in _EVALUATORS:
        evaluator = cfg.get(name)
        if isinstance(evaluator, dict) and evaluator.get('ann_file'):
            rel = osp.relpath(evaluator['ann_file'], old_root)
            evaluator['ann_file'] = osp.join(data_root, rel)
    return cfg


def set_num_workers(cfg: Config, num_workers: int) -> Config:
    """Use ``num_workers`` data-loading workers everywhere (0 for in-process loading)."""
    for loader in _LOADERS:
        if loader in cfg:
            cfg[loader].num_workers = num_workers
            cfg[loader].persistent_workers = num_workers > 0
    return cfg


#: What :func:`use_cheap_teachers` accepts as ``teacher_dtype``.
CHEAP_TEACHER_DTYPES = ('auto', 'bfloat16', 'float32')


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN reports it: AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def use_cheap_teachers(cfg: Config, teacher_dtype: str = 'auto') -> Config:
    """Run an amalgamator's teachers the cheapest correct way on this machine (in place).

    Channels-last teachers always; bf16 teachers where the CPU computes bf16 natively,
    since emulated bf16 is slower than float32. Under AMP on a GPU the teachers already run
    in reduced precision.

    Args:
        cfg (Config): an amalgamator's config.
        teacher_dtype (str): ``'auto'`` (bf16 where native, else float32), or
            ``'bfloat16'`` / ``'float32'`` whatever the CPU: the precision is part of the
            config, so of a benchmark row's key, and a row trained on one kind of CPU is
            found on the other only under the precision it was trained with.
    """
    if teacher_dtype not in CHEAP_TEACHER_DTYPES:
        raise ValueError(f'teacher_dtype must be one of {CHEAP_TEACHER_DTYPES}, got '
                         f'{teacher_dtype!r}.')
    cfg.model.teacher_channels_last = True
    if teacher_dtype == 'auto':
        teacher_dtype = 'bfloat16' if native_bf16() else 'float32'
    if teacher_dtype == 'bfloat16':
        cfg.model.teacher_dtype = 'bfloat16'
    return cfg


def use_teacher_cache(cfg: Config, directory: str, dtype: str = 'float16',
                      mode: str = 'deterministic') -> Config:
    """Give the distiller of ``cfg`` a teacher output cache in ``directory`` (in place).

    Also adds the :class:`TeacherCacheHook` that checks the training pipeline, if missing.
    """
    cfg.model.teacher_cache = dict(dir=directory, dtype=dtype, mode=mode)
    return add_teacher_cache_hook(cfg)


def add_teacher_cache_hook(cfg: Config) -> Config:
    """Add ``TeacherCacheHook`` to ``custom_hooks`` when the model has a teacher cache.

    The cache refuses to run before the hook has checked the training pipeline; mmka's
    ``tools/train.py`` calls this so that a config only needs ``model.teacher_cache``.
    """
    if not cfg.get('model', {}).get('teacher_cache'):
        return cfg
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(h.get('type') in ('TeacherCacheHook', 'mmdet.TeacherCacheHook') for h in hooks):
        hooks.append(dict(type='TeacherCacheHook'))
    cfg.custom_hooks = hooks
    return cfg
