"""Block-diagonal encoder self-attention over N segments (paper §III-B1, eqs. 3-4).

The extended sequence X_S = X_s^1 ⊕ ... ⊕ X_s^N (N segments of n tokens) goes through an
unmodified DETR encoder, but segment t may only attend to segment t (eq. 4: the off-diagonal
blocks A_ij, i != j, of eq. 3 are masked with -inf). Layer norm and the FFN act per token and
all weights are shared, so this equals running the encoder on B·N independent sequences of
length n ("folding" the segments into the batch): O(N·n²) attention, no (N·n)² mask. The
explicit-mask form is kept to verify the folding and to measure what it saves.
"""
from typing import Optional

import torch
from torch import Tensor, nn

ENCODER_ATTENTIONS = ('folded', 'masked')


def fold_segments(x: Optional[Tensor], num_segments: int) -> Optional[Tensor]:
    """(B, N·n, ...) -> (B·N, n, ...): token ``t·n + i`` of image b goes to row ``b·N + t``."""
    if x is None:
        return None
    batch, length = x.shape[:2]
    return x.reshape(batch * num_segments, length // num_segments, *x.shape[2:])


def unfold_segments(x: Tensor, num_segments: int) -> Tensor:
    """(B·N, n, ...) -> (B, N·n, ...), the inverse of :func:`fold_segments`."""
    rows, length = x.shape[:2]
    return x.reshape(rows // num_segments, num_segments * length, *x.shape[2:])


def block_diagonal_mask(num_segments: int, length: int,
                        device: Optional[torch.device] = None) -> Tensor:
    """(N·n, N·n) bool attention mask, True (blocked) outside the N diagonal n×n blocks."""
    segment = torch.arange(num_segments, device=device).repeat_interleave(length)
    return segment.unsqueeze(1) != segment.unsqueeze(0)


def block_encoder_forward(encoder: nn.Module, query: Tensor, query_pos: Tensor,
                          key_padding_mask: Optional[Tensor], num_segments: int,
                          mode: str = 'folded') -> Tensor:
    """Run a DETR encoder with block-diagonal self-attention over ``num_segments`` segments.

    Args:
        encoder (nn.Module): an mmdet DETR-style encoder, called as
            ``encoder(query=, query_pos=, key_padding_mask=, **kwargs)``.
        query (Tensor): (B, N·n, C) extended sequence X_S.
        query_pos (Tensor): (B, N·n, C) positional encoding.
        key_padding_mask (Tensor, optional): (B, N·n) bool, True at padding.
        num_segments (int): N.
        mode (str): ``'folded'`` (B·N sequences of length n) or ``'masked'`` (one sequence of
            N·n tokens with :func:`block_diagonal_mask`).

    Returns:
        Tensor: (B, N·n, C) encoder output Y_S, in the same token order as ``query``. (The
        encoder's layers see (B·N, n, C) when folded and (B, N·n, C) when masked.)
    """
    assert mode in ENCODER_ATTENTIONS, mode
    if mode == 'folded':
        out = encoder(
            query=fold_segments(query, num_segments),
            query_pos=fold_segments(query_pos, num_segments),
            key_padding_mask=fold_segments(key_padding_mask, num_segments))
        return unfold_segments(out, num_segments)
    length = query.size(1) // num_segments
    return encoder(
        query=query,
        query_pos=query_pos,
        key_padding_mask=key_padding_mask,
        attn_mask=block_diagonal_mask(num_segments, length, query.device))
