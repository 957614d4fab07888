"""Params and FLOPs of a DETR-family detector (paper Table I's #params / FLOPs columns).

Counted by ``mmengine.analysis.get_model_complexity_info``: fvcore-style op counting on a
``torch.jit`` trace of one ``mode='tensor'`` forward (backbone, projection(s), encoder,
decoder, head; no post-processing), batch 1. One multiply-add counts as one FLOP.
"""
import copy
import logging
from functools import partial
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.logging import MMLogger

from mmdet.structures import DetDataSample


def dummy_data_samples(batch: int, height: int, width: int) -> List[DetDataSample]:
    """``batch`` unpadded ``height`` x ``width`` images' metainfo, as the detectors read it."""
    shape = (height, width)
    return [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape,
                                        batch_input_shape=shape, pad_shape=shape,
                                        scale_factor=(1., 1.))) for _ in range(batch)]


def model_complexity(model: nn.Module, shape: Sequence[int],
                     device: Optional[torch.device] = None) -> Dict[str, int]:
    """Params, FLOPs and activations of ``model`` on one random ``shape`` = (H, W) image.

    Args:
        model (nn.Module): an mmdet detector whose ``forward(inputs, data_samples,
            mode='tensor')`` runs the network (not modified: a copy is traced).
        shape (Sequence[int]): (H, W) of the input image.
        device (torch.device, optional): where to trace; default: the model's device.

    Returns:
        dict: ``params`` (all parameters, shared ones once, as ``sum(p.numel())``),
        ``flops`` (multiply-adds) and ``activations``, ints.
    """
    if len(shape) != 2 or any(int(s) < 1 for s in shape):
        raise ValueError(f'shape={tuple(shape)!r} must be (H, W) with positive sizes.')
    height, width = (int(s) for s in shape)
    if device is None:
        device = next(model.parameters()).device
    # A copy: the forward is rebound to tensor mode with fixed metainfo, and the trace puts
    # the model in eval mode, neither of which the caller should see.
    model = copy.deepcopy(model).to(device).eval()
    model.forward = partial(model.forward, data_samples=dummy_data_samples(1, height, width),
                            mode='tensor')
    imgs = torch.rand(1, 3, height, width, device=device)
    # The counter warns about every op it does not count (norms, softmax, element-wise).
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        info = get_model_complexity_info(model, inputs=imgs, show_table=False, show_arch=False)
    finally:
        logger.setLevel(level)
    return dict(params=int(info['params']), flops=int(info['flops']),
                activations=int(info['activations']))
