"""Token sequences of DETR encoders: layout, padding and per-channel normalisation."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet.structures import SampleList


def map_to_tokens(feature_map: Tensor) -> Tensor:
    """(B, C, h, w) -> (B, n, C), n = h·w in row-major order, as mmdet's DETR flattens."""
    return feature_map.flatten(2).transpose(1, 2)


def neck_tokens(neck_output) -> Tensor:
    """A hooked neck output (tuple of maps; the encoder uses the last) as (B, n, C)."""
    return map_to_tokens(neck_output[-1])


def valid_token_mask(data_samples: SampleList, hw: Tuple[int, int],
                     device: torch.device) -> Tensor:
    """(B, n) bool, True where a token covers image content rather than batch padding.

    The same rule as mmdet's ``DETR.pre_transformer``: the padding mask of the batch input
    is resized to the feature map with nearest interpolation.
    """
    batch_h, batch_w = data_samples[0].batch_input_shape
    padded = torch.ones((len(data_samples), batch_h, batch_w), device=device)
    for i, sample in enumerate(data_samples):
        h, w = sample.img_shape
        padded[i, :h, :w] = 0
    padded = F.interpolate(padded[None], size=hw).to(torch.bool)[0]
    return ~padded.flatten(1)


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
