"""DINO's two-stage proposals with their gradients, from the memory its decoder read."""
from typing import Optional, Tuple

import torch.nn as nn
from torch import Tensor

from mmdet.models.detectors import DINO


def two_stage_proposals(detector: nn.Module, memory: Tensor, memory_mask: Optional[Tensor],
                        spatial_shapes: Tensor) -> Tuple[Tensor, Tensor]:
    """The top-k encoder proposals a DINO's ``pre_decoder`` starts its decoder from.

    mmdet's ``DINO.pre_decoder`` scores every encoder token with the class branch after the
    last decoder layer, places a box at it with the matching box branch (a delta on the
    anchor of ``gen_encoder_output_proposals``) and keeps the ``num_queries`` tokens of
    highest maximum class score. It hands their scores and boxes, with gradients, to the
    encoder loss only in a training forward with ground truth (denoising queries need it);
    this computes the same top-k from the memory alone, so that a loss without ground truth
    (TA on the proposals) can train that branch pair. The selection is the detector's own:
    a KA student's ``gen_encoder_output_proposals`` (one segment per position) is honoured.

    Args:
        detector (nn.Module): a two-stage DINO (or subclass).
        memory (Tensor): (B, n, C) the encoder output its decoder read (``value``).
        memory_mask (Tensor, optional): (B, n) bool, True at padding (``key_padding_mask``).
        spatial_shapes (Tensor): (S, 2) the level layout of ``memory``.

    Returns:
        tuple[Tensor, Tensor]: class logits (B, k, K) and boxes (B, k, 4), normalised
        (cx, cy, w, h), of the k = ``num_queries`` proposals in rank order; the boxes equal
        the decoder's initial ``reference_points`` (detached there).

    Cost: the proposal head runs a second time over the n tokens (a linear layer, a norm
    and two small branches), little beside the encoder; reusing ``pre_decoder``'s own
    tensors would need a second, label-free path through mmdet's ``pre_decoder``.
    """
    if not isinstance(detector, DINO):
        raise TypeError(f'two_stage_proposals reads a DINO (two-stage, top-k by the maximum '
                        f'class score); got {type(detector).__name__}.')
    output_memory, output_proposals = detector.gen_encoder_output_proposals(
        memory, memory_mask, spatial_shapes)
    last = detector.decoder.num_layers  # the branch pair after the decoder's own
    logits = detector.bbox_head.cls_branches[last](output_memory)  # (B, n', K)
    coords_unact = detector.bbox_head.reg_branches[last](output_memory) + output_proposals
    index = logits.max(-1)[0].topk(detector.num_queries, dim=1)[1]  # (B, k)
    topk_logits = logits.gather(1, index[..., None].expand(-1, -1, logits.size(-1)))
    topk_boxes = coords_unact.gather(1, index[..., None].expand(-1, -1, 4)).sigmoid()
    return topk_logits, topk_boxes
