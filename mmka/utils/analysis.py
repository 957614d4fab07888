"""Plumbing shared by the analysis tools (tools/analysis/): configs, models, images.

* :func:`load_config` reads a config (optionally pointed at another data root);
* :func:`detector_cfg` picks the detector to analyse: the student of an amalgamation or
  distillation config (``cfg.model.student``), else ``cfg.model``;
* :func:`build_detector` builds it and loads a checkpoint, whether a standalone one or an
  amalgamation checkpoint (``student.*`` keys);
* :func:`build_teachers` builds an amalgamation config's frozen teachers;
* :func:`load_items` / :func:`preprocess` / :func:`predict` read images through the
  config's test pipeline and run a model on them, each with its own data preprocessor;
* :func:`extended_redundancy` gives eq. 8 for every token of a KA student's X_S;
* :func:`compression_agreement` compares a slim student's P_slim on X_T and on X_S.

Nothing here changes a passed config: every function works on copies.
"""
import copy
import os.path as osp
import pickle
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from mmdet.registry import DATASETS, MODELS
from mmdet.structures import DetDataSample
from ..models.amalgamation_hooks.sequence_utils import (feature_levels, map_to_tokens,
                                                         neck_tokens, valid_token_mask)
from ..models.amalgamators import build_frozen_teacher
from ..models.amalgamators.base_distiller import teacher_context
from ..models.layers.sequence_compression import select_by_redundancy, token_redundancy
from ..models.detectors.multiscale_sequence_extension import MultiScaleSequenceExtensionMixin
from ..models.detectors.sequence_extension import SequenceExtensionMixin
from .config_utils import set_data_root

#: Checkpoint key prefixes removed before loading: DDP wrappers, and the amalgamator's
#: ``student.`` (amalgamation checkpoints hold only the student, see FrozenTeacherDistiller).
REVISE_KEYS = [(r'^module\.', ''), (r'^student\.', '')]


def load_config(path: str, data_root: Optional[str] = None) -> Config:
    """The config at ``path``, with every dataloader pointed at ``data_root`` if given."""
    if not isinstance(path, str) or not osp.isfile(path):
        raise FileNotFoundError(f'Config file {path!r} does not exist.')
    cfg = Config.fromfile(path)
    # Builders outside a Runner need mmdet's scope to resolve plain type names.
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if data_root is not None:
        if 'train_dataloader' not in cfg:
            raise ValueError(f'--data-root needs a config with dataloaders; {path!r} has no '
                             'train_dataloader.')
        set_data_root(cfg, data_root.rstrip('/') + '/')
    return cfg


def is_distiller_cfg(model_cfg: dict) -> bool:
    """True for an amalgamation / distillation model (a student trained from teachers)."""
    return 'student' in model_cfg


def detector_cfg(cfg: Config) -> dict:
    """A copy of the detector model config to analyse: the student of an amalgamator.

    The distiller's ``data_preprocessor`` (if any) is the one the student ran with, so it
    is given to a student that has none of its own.
    """
    model_cfg = cfg.model
    if model_cfg.get('type') == 'TeacherEnsemble':
        raise ValueError('A TeacherEnsemble config has no single detector to analyse; pass '
                         'one of its teachers\' configs, or the amalgamation config it was '
                         'made from.')
    if not is_distiller_cfg(model_cfg):
        return _plain(model_cfg)
    student = _plain(model_cfg['student'])
    if student.get('data_preprocessor') is None and model_cfg.get('data_preprocessor'):
        student['data_preprocessor'] = _plain(model_cfg['data_preprocessor'])
    return student


def _plain(cfg) -> dict:
    """A deep copy of a (Config)dict as plain dicts."""
    return copy.deepcopy(cfg.to_dict() if isinstance(cfg, ConfigDict) else dict(cfg))


def build_detector(model_cfg: dict, checkpoint: Optional[str] = None,
                   device: str = 'cpu') -> nn.Module:
    """Build ``model_cfg`` (not modified), load ``checkpoint`` strictly, eval mode.

    Args:
        model_cfg (dict): a detector config, e.g. from :func:`detector_cfg`.
        checkpoint (str, optional): a standalone checkpoint or an amalgamation checkpoint
            (``student.*`` keys are read as the student's). None keeps the weights as
            built: ``init_weights()`` is not called, so parameters that mmdet creates
            uninitialised (e.g. DINO's ``level_embed``) hold arbitrary values.
        device (str): where the model goes.
    """
    model = MODELS.build(copy.deepcopy(model_cfg))
    if checkpoint is not None:
        load_weights(model, checkpoint)
    return model.to(device).eval()


def build_ka_student(cfg: Config, checkpoint: str, device: str = 'cpu',
                     purpose: str = 'this tool') -> nn.Module:
    """The KA student of ``cfg`` (a student or amalgamation config) with ``checkpoint``:
    single-scale (``KADETRStudent`` etc.) or multi-scale (``KADINOStudent``,
    ``KADeformableDETRStudent``).

    Raises:
        ValueError: naming the type, if the detector has no extended sequence (checked
            before the checkpoint is read).
    """
    student = MODELS.build(detector_cfg(cfg))
    if not isinstance(student, (SequenceExtensionMixin, MultiScaleSequenceExtensionMixin)):
        raise ValueError(
            f'{type(student).__name__} has no extended sequence, but {purpose} needs a KA '
            'student: pass a KADETRStudent / KAConditionalDETRStudent / KADABDETRStudent / '
            'KADeformableDETRStudent / KADINOStudent config, or an amalgamation config '
            'whose model.student is one.')
    load_weights(student, checkpoint)
    return student.to(device).eval()


def load_weights(model: nn.Module, checkpoint: str) -> dict:
    """Load ``checkpoint`` into ``model`` strictly; returns the checkpoint dict.

    Strict, because a tool that silently ran half-random weights would draw wrong figures.
    An amalgamation checkpoint also holds its hooks' training-only parameters (``hooks.*``,
    e.g. SAG's projections), which no detector has: those are left out.
    """
    if not isinstance(checkpoint, str) or not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint file {checkpoint!r} does not exist.')
    try:
        loaded = _load_checkpoint(checkpoint, map_location='cpu', logger='silent')
        state = loaded.get('state_dict', loaded)
        if any(key.startswith('student.') for key in state):
            state = {k: v for k, v in state.items() if not k.startswith('hooks.')}
        _load_checkpoint_to_model(model, state, strict=True, logger='silent',
                                  revise_keys=REVISE_KEYS)
        return loaded
    except (RuntimeError, KeyError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise ValueError(f'Cannot load checkpoint {checkpoint!r} into '
                         f'{type(model).__name__}: {err}') from err


def build_teachers(cfg: Config, device: str = 'cpu') -> List[Tuple[nn.Module, tuple]]:
    """The frozen teachers of an amalgamation config, as ``(model, classes)`` pairs."""
    teachers = cfg.model.get('teachers')
    if not teachers:
        raise ValueError(f'The config\'s model ({cfg.model.get("type")}) has no teachers: '
                         'pass an amalgamation config such as configs/ka/shapes_2t.py.')
    built = [build_frozen_teacher(**copy.deepcopy(dict(t))) for t in teachers]
    return [(model.to(device), classes) for model, classes in built]


def dataset_classes(cfg: Config) -> Optional[tuple]:
    """The student's label names: the amalgamator's ``classes``, else the test dataset's."""
    classes = cfg.model.get('classes')
    if classes is None:
        classes = cfg.get('test_dataloader', {}).get('dataset', {}).get(
            'metainfo', {}).get('classes')
    return None if classes is None else tuple(classes)


def load_items(cfg: Config, num_images: int, start: int = 0) -> List[dict]:
    """Images ``start .. start + num_images - 1`` of the config's test dataset, packed.

    Returns:
        list[dict]: ``dict(inputs=(3, H, W) uint8 BGR tensor, data_samples=DetDataSample)``
        per image, after the test pipeline (so resized as the model sees them).
    """
    if not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f'num_images={num_images!r} must be an int >= 1.')
    if 'test_dataloader' not in cfg:
        raise ValueError('The config has no test_dataloader to read images from.')
    dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
    if not 0 <= start < len(dataset):
        raise ValueError(f'start={start} is outside the test dataset ({len(dataset)} '
                         'images).')
    stop = min(start + num_images, len(dataset))
    return [dataset[i] for i in range(start, stop)]


def preprocess(model: nn.Module, items: Sequence[dict]) -> dict:
    """``items`` batched by ``model``'s own data preprocessor (on copies: the preprocessor
    writes batch metainfo into the samples, and each model must see fresh ones)."""
    return model.data_preprocessor(pseudo_collate(copy.deepcopy(list(items))), False)


@torch.no_grad()
def predict(model: nn.Module, items: Sequence[dict]) -> List[DetDataSample]:
    """``model``'s predictions for ``items``, boxes in original-image coordinates."""
    data = preprocess(model, items)
    return model.predict(data['inputs'], data['data_samples'], rescale=True)


def image_rgb(item: dict) -> np.ndarray:
    """The (H, W, 3) uint8 RGB image of a packed item, as the model sees it (resized)."""
    # LoadImageFromFile reads BGR (mmcv's default); the data preprocessor swaps for the model.
    return item['inputs'].permute(1, 2, 0).flip(-1).cpu().numpy().copy()


def to_input_coords(bboxes: torch.Tensor, sample: DetDataSample) -> torch.Tensor:
    """Boxes in original-image coordinates mapped onto the resized image of ``sample``."""
    scale = sample.metainfo.get('scale_factor', (1., 1.))
    return bboxes * bboxes.new_tensor(scale).repeat(2)


@torch.no_grad()
def extended_redundancy(student, data: dict) -> Dict[str, np.ndarray]:
    """Redundancy of the valid tokens of X_S for one preprocessed batch.

    A multi-scale student (Deformable DETR, DINO: L levels) chooses P_slim by Alg. 1 on
    each level separately, since tokens of different resolutions are not alike; so each
    level's N·n_l tokens X_S^l are one sequence here too, and R is R(x_i | X_S^l). A
    single-scale student has one level, X_S itself.

    Returns:
        dict: ``redundancy``, ``segment`` (0..N-1), ``level`` (0..L-1) and ``kept`` (bool),
        flat over the valid tokens of all images of the batch, level by level.
    """
    num, levels = student.num_teachers, feature_levels(student)
    maps = student.extract_feat(data['inputs'])  # N·L maps, map t·L + l = level l of t
    parts = []
    for level in range(levels):
        level_maps = maps[level::levels]  # this level of every segment
        seq = torch.cat([map_to_tokens(m) for m in level_maps], dim=1)  # (B, N·n_l, C)
        valid = valid_token_mask(data['data_samples'], [level_maps[0].shape[-2:]],
                                 seq.device)
        padding = (~valid).repeat(1, num)  # (B, N·n_l)
        redundancy = token_redundancy(seq, padding)
        # P_slim as the student itself chooses it at evaluation (on its own X_S).
        if student.compressor.enabled:
            kept_idx = student.compressor.select(seq, padding)
        else:
            kept_idx = select_by_redundancy(seq, num, padding)
        kept = torch.zeros_like(padding).scatter_(1, kept_idx, True)
        segment = torch.arange(num, device=seq.device).repeat_interleave(seq.size(1) // num)
        parts.append({k: v[~padding].cpu().numpy() for k, v in dict(
            redundancy=redundancy, segment=segment.expand_as(padding), kept=kept,
            level=torch.full_like(segment, level).expand_as(padding)).items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@torch.no_grad()
def compression_agreement(student, teachers, data: dict,
                          teacher_dtype: Optional[str] = None) -> np.ndarray:
    """Per image: share of valid positions where Alg. 1 on X_T and on X_S keep one segment.

    Both choices are the student's own (its ``pre_transformer``, so a multi-scale student
    runs Alg. 1 on each level, as in training), in eval mode: once by the paper's rule (on
    X_S), once under :meth:`compression_guide` with the teachers' X_T and the compressor's
    ``eval_guide='teachers'`` (the choice training makes).

    Args:
        student: a compressed KA student (N segments); teachers: its N frozen teachers, in
            order.
        data (dict): a batch preprocessed by the student's data preprocessor.
        teacher_dtype (str, optional): run the teachers under autocast in this dtype, as
            the amalgamator's ``teacher_dtype`` ran them in training (``'bfloat16'`` where
            ``use_cheap_teachers`` chose it); None: float32.

    Returns:
        np.ndarray: (B,) agreement in [0, 1].
    """
    inputs, samples = data['inputs'], data['data_samples']
    maps = student.extract_feat(inputs)
    encoder_inputs, _ = student.pre_transformer(maps, samples)
    own = student.last_kept_indices  # (B, n) P_slim(X_S)
    levels = feature_levels(student)
    # The teachers read the student's batch in training's precision, as in training
    # (FrozenTeacherDistiller.teacher_context): the choice on X_T is then training's.
    with teacher_context(inputs.device, teacher_dtype):
        guide = torch.cat([neck_tokens(t.extract_feat(inputs), levels) for t in teachers],
                          dim=1)
    with student.compression_guide(guide), _eval_guide(student.compressor, 'teachers'):
        student.pre_transformer(maps, samples)
    guided = student.last_kept_indices  # (B, n) P_slim(X_T)
    padding = encoder_inputs['feat_mask']  # (B, n) of one segment, or None
    valid = torch.ones_like(own, dtype=torch.bool) if padding is None else ~padding
    # Both are indices t·n + i in position order, so equal entries = same segment.
    same = own == guided
    return ((same & valid).sum(1).float() / valid.sum(1).clamp(min=1)).cpu().numpy()


@contextmanager
def _eval_guide(compressor, guide: str):
    """``compressor.eval_guide`` set to ``guide`` within the block."""
    previous, compressor.eval_guide = compressor.eval_guide, guide
    try:
        yield
    finally:
        compressor.eval_guide = previous
