"""KD-DETR distillation points of Deformable DETR and DINO: reference boxes.

mmdet's multi-scale DETRs decode a query around a *reference*: a box (cx, cy, w, h) in
[0, 1] for two-stage models (DINO, Deformable DETR with ``as_two_stage``), a point (cx, cy)
for single-stage Deformable DETR. A distillation point is such a reference, shared by
teacher and student, plus its queries: built by each model as its own ``pre_decoder``
builds them for its own references, or, for single-stage Deformable DETR (whose references
are computed from its queries, not its queries from them), shared as well:

==================================  =============================================  =========
model                               content / positional query of a point          reference
==================================  =============================================  =========
DINO (``DINOAnyDim``)               content: each model's own ``query_embedding``  box
                                    row i for the teacher's i-th top-k proposal
                                    (``ranked`` groups), else the mean of its
                                    rows; the decoder derives query_pos from the
                                    box
Deformable DETR, two-stage          both built from the box, as ``pre_decoder``    box
                                    builds them (``pos_trans_fc`` of its sine
                                    embedding), by each model
Deformable DETR, single-stage       shared by both models: a ``query_embedding``-  centre
                                    like vector split into (query_pos, query)
==================================  =============================================  =========

Why the mean for DINO's general points: DINO's content queries are learned per proposal
rank, and a random box has no rank; the mean row is the content prior common to all ranks,
in each model's own space. Zeros would be an input DINO's decoder never sees in training.

General points (:func:`random_boxes`, :func:`random_point_group`) are random references,
fresh every step; specific points (:func:`teacher_point_group`) are the references the
teacher's ``pre_decoder`` picks for the batch: its top-k encoder proposals (two-stage) or
its learned queries with their reference centres (single-stage).

A group is decoded by the model's own ``forward_decoder`` (box refinement through its
``reg_branches`` exactly as for detection; DINO without denoising queries, ``dn_mask``
None) in a call of its own, then by its head, as for the detection queries.
"""
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.models.detectors import DINO
from mmdet.models.layers.transformer import inverse_sigmoid

#: The decoder inputs of a multi-scale DETR that describe its encoder memory.
MEMORY_KEYS = ('memory', 'memory_mask', 'spatial_shapes', 'level_start_index', 'valid_ratios')


class BoxGroup(NamedTuple):
    """One group of P distillation points of a Deformable DETR / DINO, for a batch of B.

    Attributes:
        reference_points (Tensor): (B, P, 4) boxes (cx, cy, w, h), or (B, P, 2) centres for
            single-stage Deformable DETR, in [0, 1].
        query_pos (Tensor, optional): (B, P, D) positional queries; single-stage Deformable
            DETR only (two-stage models derive them from the box).
        query (Tensor, optional): (B, P, D) content queries; single-stage only, as
            ``query_pos``.
        ranked (bool): DINO: point i is the teacher's i-th top-k proposal, so each model
            decodes it with content query row i, as DINO pairs its own proposals.
    """
    reference_points: Tensor
    query_pos: Optional[Tensor] = None
    query: Optional[Tensor] = None
    ranked: bool = False


def reference_dim(detector: nn.Module) -> int:
    """4 (a box) for two-stage models (every DINO), 2 (a centre) for single-stage ones."""
    return 4 if detector.as_two_stage else 2


def random_boxes(batch_size: int, num: int, box_sizes: Tuple[float, float],
                 device: torch.device) -> Tensor:
    """(B, P, 4) random boxes: centres uniform in [0, 1]², w and h log-uniform in
    ``box_sizes`` (independently): every scale octave equally likely, as the encoder
    proposals of these models are one octave per feature level."""
    low, high = box_sizes
    centres = torch.rand(batch_size, num, 2, device=device)
    sizes = low * (high / low)**torch.rand(batch_size, num, 2, device=device)
    return torch.cat([centres, sizes], dim=2)


def random_point_group(teacher: nn.Module, vectors: Tensor) -> BoxGroup:
    """Single-stage Deformable DETR: random centres (uniform in [0, 1]²) with the queries
    ``vectors`` (B, P, 2·D), split as ``pre_decoder`` splits ``query_embedding`` rows."""
    query_pos, query = vectors.split(teacher.embed_dims, dim=2)
    centres = torch.rand(*vectors.shape[:2], 2, device=vectors.device)
    return BoxGroup(centres, query_pos, query)


def teacher_point_group(teacher: nn.Module, decoder_inputs: Dict[str, Tensor]) -> BoxGroup:
    """The specific points: the references the teacher's own ``pre_decoder`` picks.

    Two-stage models: its top-k encoder proposals (``topk_coords_unact.sigmoid()``) for this
    batch, (B, num_queries, 4), in rank order; single-stage Deformable DETR: its learned
    queries and their reference points ``sigmoid(reference_points_fc(query_pos))``. The
    teacher must be in eval mode (frozen teachers always are): a training DINO would add
    denoising queries.
    """
    if isinstance(teacher, DINO) and teacher.training:
        raise ValueError('The specific points of a DINO teacher are its eval-mode top-k '
                         'proposals; call teacher.eval() first.')
    queries, _ = teacher.pre_decoder(decoder_inputs['memory'], decoder_inputs['memory_mask'],
                                     decoder_inputs['spatial_shapes'])
    references = queries['reference_points'].detach().float()
    if teacher.as_two_stage:
        return BoxGroup(references, ranked=isinstance(teacher, DINO))
    return BoxGroup(references, queries['query_pos'].detach().float(),
                    queries['query'].detach().float())


def point_queries(detector: nn.Module, group: BoxGroup) -> Dict[str, Tensor]:
    """The decoder's query inputs for ``group``, as ``detector.pre_decoder`` builds them
    for its own references: ``query``, ``reference_points`` and (Deformable DETR)
    ``query_pos``, each (B, P, ·)."""
    boxes = group.reference_points
    batch_size, num = boxes.shape[:2]
    if isinstance(detector, DINO):
        content = detector.query_embedding.weight  # (num_queries, D)
        if group.ranked and num != len(content):
            raise ValueError(f'A ranked point group has {num} points, but '
                             f'{type(detector).__name__} has num_queries={len(content)} '
                             'content queries; give teacher and student the same num_queries.')
        content = content if group.ranked else content.mean(0, keepdim=True).expand(num, -1)
        return dict(query=content.unsqueeze(0).expand(batch_size, -1, -1),
                    reference_points=boxes)
    if detector.as_two_stage:
        pos = detector.pos_trans_fc(detector.get_proposal_pos_embed(inverse_sigmoid(boxes)))
        query_pos, query = detector.pos_trans_norm(pos).split(detector.embed_dims, dim=2)
        return dict(query=query, query_pos=query_pos, reference_points=boxes)
    return dict(query=group.query, query_pos=group.query_pos, reference_points=boxes)


def check_group(detector: nn.Module, group: BoxGroup, batch_size: int) -> None:
    """Raise a ValueError unless ``group`` has the shapes ``detector`` decodes."""
    width, dims = reference_dim(detector), detector.embed_dims
    shapes = [('reference_points', group.reference_points, width)]
    if not detector.as_two_stage:
        shapes += [('query_pos', group.query_pos, dims), ('query', group.query, dims)]
    for name, value, last in shapes:
        if not isinstance(value, Tensor) or value.dim() != 3 or value.shape[0] != batch_size \
                or value.shape[2] != last or value.shape[1] != shapes[0][1].shape[1]:
            got = tuple(value.shape) if isinstance(value, Tensor) else value
            raise ValueError(f'A point group has {name} {got}; expected (B={batch_size}, P, '
                             f'{last}) for {type(detector).__name__} '
                             f'(as_two_stage={detector.as_two_stage}).')


def decode_box_groups(detector: nn.Module, groups: Sequence[BoxGroup],
                      decoder_inputs: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
    """Decode point groups with a Deformable DETR / DINO over its own encoder memory.

    Each group is one ``forward_decoder`` call (no detection or denoising queries in it),
    then the head called as a module, so the outputs are what the model would predict had
    these been its detection queries.

    Args:
        detector (nn.Module): a DeformableDETR or DINO.
        groups (Sequence[BoxGroup]): the point groups.
        decoder_inputs (dict): :data:`MEMORY_KEYS`: ``memory`` (B, n, D), ``memory_mask``
            (B, n) or None, ``spatial_shapes`` (S, 2), ``level_start_index`` (S,),
            ``valid_ratios`` (B, S, 2). Other keys are ignored.

    Returns:
        tuple[Tensor, Tensor]: class logits (L, B, P, K) and normalised (cx, cy, w, h)
        boxes (L, B, P, 4), P = Σ P_g, groups in order.
    """
    memory = {key: decoder_inputs[key] for key in MEMORY_KEYS}
    all_logits, all_boxes = [], []
    for group in groups:
        check_group(detector, group, memory['memory'].shape[0])
        head_inputs = detector.forward_decoder(**point_queries(detector, group), **memory)
        logits, boxes = detector.bbox_head(**head_inputs)
        all_logits.append(logits)
        all_boxes.append(boxes)
    return torch.cat(all_logits, dim=2), torch.cat(all_boxes, dim=2)


def check_box_compatible(teacher: nn.Module, student: nn.Module, specific: bool) -> None:
    """Raise a ValueError unless teacher and student read a point the same way.

    Deformable DETR: the same ``as_two_stage`` (a point is a box for two-stage models, a
    centre with shared queries otherwise); ``with_box_refine`` may differ. DINO with
    ``specific`` points: the same ``num_queries`` (point i of the teacher's top-k is decoded
    with each model's content query i).
    """
    if teacher.as_two_stage != student.as_two_stage:
        raise ValueError(
            f'Deformable DETR as_two_stage differs: teacher {teacher.as_two_stage}, student '
            f'{student.as_two_stage}. A distillation point is a box for two-stage models and '
            'a reference point with queries otherwise; give both the same as_two_stage.')
    if specific and isinstance(teacher, DINO) and teacher.num_queries != student.num_queries:
        raise ValueError(
            f'DINO num_queries differs: teacher {teacher.num_queries}, student '
            f'{student.num_queries}. The specific points are the teacher\'s top-'
            f'{teacher.num_queries} proposals, decoded with each model\'s content query of '
            f'the same rank: set the student num_queries={teacher.num_queries}, or '
            'points=dict(specific=False).')
