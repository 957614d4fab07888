"""Build frozen teachers: plain mmdet detectors given as config + checkpoint (+ classes)."""
import copy
import pickle
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.runner.checkpoint import load_checkpoint

from mmdet.registry import MODELS


def _load_config(config: Union[str, dict]) -> Config:
    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'Teacher config {config!r} does not exist.')
        return Config.fromfile(config)
    if isinstance(config, dict):
        return Config(copy.deepcopy(dict(config)))
    raise TypeError(f'A teacher config must be a path or a dict, got {type(config).__name__}.')


def _config_classes(cfg: Config) -> Optional[Tuple[str, ...]]:
    """The classes a teacher config trains on (``train_dataloader.dataset.metainfo``)."""
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    classes = dataset.get('metainfo', {}).get('classes')
    return None if classes is None else tuple(classes)


def build_frozen_teacher(config: Union[str, dict],
                         checkpoint: str,
                         classes: Optional[Sequence[str]] = None) -> Tuple[nn.Module, tuple]:
    """Build one teacher, load its weights and freeze it.

    Args:
        config (str | dict): the teacher's mmdet config file (or a config dict with a
            ``model`` key, or the model dict itself).
        checkpoint (str): the teacher's trained weights (an mmengine checkpoint).
        classes (Sequence[str], optional): the teacher's classes in its label order.
            Default: ``train_dataloader.dataset.metainfo.classes`` of the config, else the
            ``dataset_meta`` stored in the checkpoint.

    Returns:
        tuple[nn.Module, tuple[str]]: the teacher in eval mode with ``requires_grad=False``
        everywhere, and its classes.
    """
    cfg = _load_config(config)
    model_cfg = cfg.model if 'model' in cfg else cfg
    if not isinstance(checkpoint, str) or not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Teacher checkpoint {checkpoint!r} does not exist; train '
                                'the teacher first or fix the path.')
    teacher = MODELS.build(model_cfg)
    try:
        ckpt = load_checkpoint(teacher, checkpoint, map_location='cpu', strict=True,
                               logger='silent')
    except (RuntimeError, KeyError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise ValueError(f'Cannot load teacher checkpoint {checkpoint!r} into '
                         f'{model_cfg["type"]}: {err}') from err
    if classes is None:
        classes = _config_classes(cfg) or ckpt.get('meta', {}).get('dataset_meta', {}).get(
            'classes')
    if classes is None:
        raise ValueError(f'No classes for the teacher of {checkpoint!r}: give classes=[...] '
                         'or a config with train_dataloader.dataset.metainfo.classes.')
    num_classes = teacher.bbox_head.num_classes
    if len(classes) != num_classes:
        raise ValueError(f'Teacher of {checkpoint!r} has {num_classes} classes in its head '
                         f'but {len(classes)} class names were given: {tuple(classes)}.')
    teacher.requires_grad_(False)
    teacher.eval()
    return teacher, tuple(classes)
