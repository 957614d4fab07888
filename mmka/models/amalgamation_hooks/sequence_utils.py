"""Token sequences of DETR encoders: layout, padding and per-channel normalisation."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet.structures import SampleList


def map_to_tokens(feature_map: Tensor) -> Tensor:
    """(B, C, h, w) -> (B, n, C), n = h·w in row-major order, as mmdet's DETR flattens."""
    return feature_map.flatten(2).transpose(1, 2)


def feature_levels(detector) -> int:
    """How many neck maps a detector's transformer reads, the last ones of its neck output:
    all L levels of a multi-scale DETR (Deformable DETR, DINO: ``num_feature_levels``), the
    last map of a single-scale DETR."""
    return getattr(detector, 'num_feature_levels', 1)


def check_same_levels(student, teachers) -> None:
    """Sequence hints compare token i of student and teacher: the same level layout."""
    levels = feature_levels(student)
    for t, teacher in enumerate(teachers):
        if feature_levels(teacher) != levels:
            raise ValueError(
                f'Teacher {t} reads {feature_levels(teacher)} feature level(s), the student '
                f'{levels}: sequence hints compare the sequences token by token, so teachers '
                'and student need the same levels (num_feature_levels) and strides.')


def neck_tokens(neck_output: Sequence[Tensor], num_levels: int = 1) -> Tensor:
    """A hooked neck output (tuple of maps) as the (B, n, C) tokens the encoder reads: the
    last ``num_levels`` maps flattened and concatenated in level order, n = Σ h_l·w_l."""
    return torch.cat([map_to_tokens(m) for m in neck_output[-num_levels:]], dim=1)


def neck_shapes(neck_output: Sequence[Tensor], num_levels: int = 1) -> List[Tuple[int, int]]:
    """The (h, w) of each of the last ``num_levels`` maps of a hooked neck output."""
    return [tuple(m.shape[-2:]) for m in neck_output[-num_levels:]]


def valid_token_mask(data_samples: SampleList, shapes: Sequence[Tuple[int, int]],
                     device: torch.device) -> Tensor:
    """(B, n) bool, True where a token covers image content rather than batch padding.

    The rule of mmdet's ``DETR.pre_transformer`` and ``DeformableDETR.pre_transformer``: the
    padding mask of the batch input is resized to each feature map with nearest
    interpolation; the levels' tokens are concatenated in order, n = Σ h_l·w_l.

    Args:
        shapes (Sequence[tuple[int, int]]): (h, w) of every level, e.g. :func:`neck_shapes`.
    """
    batch_h, batch_w = data_samples[0].batch_input_shape
    padded = torch.ones((len(data_samples), batch_h, batch_w), device=device)
    for i, sample in enumerate(data_samples):
        h, w = sample.img_shape
        padded[i, :h, :w] = 0
    masks = [F.interpolate(padded[None], size=tuple(hw)).to(torch.bool)[0].flatten(1)
             for hw in shapes]
    return ~torch.cat(masks, dim=1)


def channel_normalize(seq: Tensor, valid: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalise each channel by its mean and variance over the valid tokens of the batch.

    Paper §IV-A2: "all the sequences are normalized independently for each channel by
    channel mean and variance in a mini-batch" — batch normalisation without affine
    parameters, padding excluded from the statistics.

    Args:
        seq (Tensor): (B, n, C). valid (Tensor): (B, n) bool.

    Returns:
        Tensor: (B, n, C) in float32 (statistics in reduced precision are unreliable).
    """
    seq = seq.float()
    weights = valid.unsqueeze(-1).to(seq.dtype)  # (B, n, 1)
    count = weights.sum().clamp(min=1.0)
    mean = (seq * weights).sum(dim=(0, 1)) / count
    var = (((seq - mean) ** 2) * weights).sum(dim=(0, 1)) / count
    return (seq - mean) * torch.rsqrt(var + eps)


def masked_mse(a: Tensor, b: Tensor, valid: Tensor) -> Tensor:
    """Mean over valid tokens and channels of (a - b)²; a, b (B, n, C), valid (B, n)."""
    sq = ((a - b) ** 2).mean(-1)
    weights = valid.to(sq.dtype)
    return (sq * weights).sum() / weights.sum().clamp(min=1.0)
