"""KD-DETR distillation points: query groups that teacher and student both decode.

A distillation point is one decoder query. A *group* of P points is decoded by a detector's
own decoder and head over its own encoder memory, in a decoder call of its own: the group
never attends to the detector's detection queries (nor they to it), so detection outputs
and inference are unchanged. Teacher and student decode the same group, so prediction i of
the student answers the same query as prediction i of the teacher: no matching is needed.

What a query is depends on the architecture family (mmdet's ``pre_decoder`` of each):

=====================  ===============================================  ============
family                 positional query ``query_pos`` (B, P, D)         content query
=====================  ===============================================  ============
``detr``               a free vector, D = embed_dims                    zeros
``conditional_detr``   a free vector, D = embed_dims (its reference     zeros
                       point is ``sigmoid(ref_point_head(query_pos))``)
``dab_detr``           an anchor box in inverse-sigmoid space,          zeros
                       D = query_dim (4: cx, cy, w, h)
``deformable_detr``    two-stage: a reference box (cx, cy, w, h) in     built from
                       [0, 1], query_pos built from it by each model;   the box;
                       single-stage: a reference centre (cx, cy) with   shared, with
                       a query_pos shared by both                       the centre
``dino``               a reference box (cx, cy, w, h) in [0, 1],        each model's
                       query_pos derived from it by each decoder        own rows
                                                                        (box_points)
=====================  ===============================================  ============

Groups (:class:`DistillationPointSampler`):

- **general** points, fresh every call: DAB-DETR anchors drawn uniformly in [0, 1]^D (the
  KD-DETR reference code) and passed through ``inverse_sigmoid`` as DAB-DETR's own anchors
  are; DETR / Conditional DETR position vectors drawn from a Gaussian (see
  :data:`QUERY_SAMPLINGS`); Deformable DETR / DINO boxes with uniform centres and
  log-uniform sizes (single-stage Deformable DETR: uniform centres with Gaussian queries);
- **specific** points: the teacher's own learned queries (``query_embedding.weight``;
  single-stage Deformable DETR: with the reference centres its ``pre_decoder`` derives);
  for two-stage models (DINO) the teacher's top-k encoder proposals of the batch, the
  boxes its ``pre_decoder`` picks for its detection queries.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.models.detectors import DABDETR, DETR, DINO, ConditionalDETR, DeformableDETR
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.structures import SampleList
from .box_points import (BoxGroup, check_box_compatible, decode_box_groups, random_boxes,
                         random_point_group, reference_dim, teacher_point_group)

FAMILIES = ('detr', 'conditional_detr', 'dab_detr', 'deformable_detr', 'dino')
#: Families whose distillation points are reference boxes / points (:mod:`.box_points`).
BOX_FAMILIES = ('deformable_detr', 'dino')
#: How general points of DETR / Conditional DETR are drawn, per channel c of query_pos:
#: ``'teacher_stats'``: N(μ_c, σ_c²) with the mean and standard deviation of channel c over
#: the teacher's learned queries: random queries from the distribution its decoder was
#: trained on (default); ``'normal'``: N(0, 1), the distribution of an untrained
#: ``nn.Embedding`` (mmdet initialises ``query_embedding`` that way).
QUERY_SAMPLINGS = ('teacher_stats', 'normal')


def detector_family(detector: nn.Module) -> str:
    """One of :data:`FAMILIES` (subclasses count as their base, e.g. ``DINOAnyDim`` is
    ``'dino'``).

    Raises:
        TypeError: not a DETR, ConditionalDETR, DABDETR, DeformableDETR or DINO.
    """
    # DABDETR and ConditionalDETR subclass DETR, DINO subclasses DeformableDETR: test the
    # most specific first.
    for family, cls in (('dino', DINO), ('deformable_detr', DeformableDETR),
                        ('dab_detr', DABDETR), ('conditional_detr', ConditionalDETR),
                        ('detr', DETR)):
        if isinstance(detector, cls):
            return family
    raise TypeError(f'KD-DETR distillation points support mmdet DETR, ConditionalDETR, '
                    f'DABDETR, DeformableDETR and DINO (and subclasses); got '
                    f'{type(detector).__name__}.')


def query_dim(detector: nn.Module) -> int:
    """D, the width of one positional query: embed_dims, or 4 (2) for DAB-DETR anchors;
    for Deformable DETR / DINO the width of a reference: 4 (box, two-stage) or 2 (centre)."""
    family = detector_family(detector)
    if family in BOX_FAMILIES:
        return reference_dim(detector)
    return detector.query_dim if family == 'dab_detr' else detector.embed_dims


def check_point_compatible(teacher: nn.Module, student: nn.Module, same_classes: bool = False,
                           specific: bool = True) -> None:
    """Raise a ValueError unless both detectors can decode the same query groups.

    Required: the same family (a query means the same thing to both), the same embed dims
    (a DETR / Conditional DETR query *is* an embed_dims vector; the memories and heads are
    compared in the same space), the same query_dim for DAB-DETR, and no DAB-DETR pattern
    embeddings (their content queries are learned per model, so they would differ between
    teacher and student); for Deformable DETR / DINO see :func:`check_box_compatible`.
    Backbones, feature levels and layer counts may differ.

    Args:
        same_classes (bool): also require the same number of classes (KD-DETR compares the
            predictions class by class; knowledge amalgamation maps teachers' class subsets
            and leaves this False).
        specific (bool): the specific points will be decoded (DINO: equal num_queries).

    Raises:
        TypeError: a model outside :data:`FAMILIES`.
    """
    families = detector_family(teacher), detector_family(student)
    if families[0] != families[1]:
        raise ValueError(
            f'KD-DETR needs teacher and student of the same architecture family; the teacher '
            f'is {type(teacher).__name__} ({families[0]}), the student '
            f'{type(student).__name__} ({families[1]}).')
    if teacher.embed_dims != student.embed_dims:
        raise ValueError(
            f'KD-DETR needs equal embed dims: the teacher has {teacher.embed_dims}, the student '
            f'{student.embed_dims}. Give the student embed_dims={teacher.embed_dims} (neck '
            'out_channels, positional_encoding num_feats, attention/FFN and head embed_dims).')
    t_classes, s_classes = teacher.bbox_head.num_classes, student.bbox_head.num_classes
    if same_classes and t_classes != s_classes:
        raise ValueError(
            f'KD-DETR needs the same classes: the teacher head has {t_classes} classes, the '
            f'student head {s_classes}. Set the student bbox_head.num_classes={t_classes} '
            '(teachers on class subsets are amalgamated with KADETRAmalgamator).')
    if families[0] in BOX_FAMILIES:
        check_box_compatible(teacher, student, specific)
    if families[0] == 'dab_detr':
        if teacher.query_dim != student.query_dim:
            raise ValueError(f'DAB-DETR query_dim differs: teacher {teacher.query_dim}, '
                             f'student {student.query_dim}; anchors must mean the same.')
        for name, model in (('teacher', teacher), ('student', student)):
            if model.num_patterns:
                raise ValueError(f'The {name} DAB-DETR has num_patterns={model.num_patterns}; '
                                 'distillation points need num_patterns=0 (zero content '
                                 'queries shared by teacher and student).')


class DistillationPointSampler:
    """Query groups for one training step: general (random) and specific (teacher's) points.

    Args:
        num_general (int): P_g, general points per image, fresh every call (reference
            code: 300). 0 disables them.
        specific (bool): add the teacher's m learned queries (two-stage Deformable DETR /
            DINO: its m top-k encoder proposals for the batch) as a second group.
        query_sampling (str): DETR / Conditional DETR / single-stage Deformable DETR general
            queries, one of :data:`QUERY_SAMPLINGS`. DAB-DETR anchors are always uniform in
            [0, 1].
        box_sizes (tuple[float, float]): (low, high), 0 < low <= high <= 1: the range of the
            normalised width and height of general boxes (two-stage Deformable DETR, DINO),
            each drawn log-uniformly: every scale octave equally likely, small objects as
            well covered as large ones (uniform sizes, as DAB-DETR's anchors, put 90 % of
            boxes above 0.1). Default (1/32, 1): five octaves, the span of the encoder
            proposals of a 4-level model (0.05·2^l) widened by an octave on each side.
            Centres are uniform in [0, 1]².

    Every image of the batch gets its own general points (more distinct points per step at
    the same cost). They come from the global torch RNG on the teacher's device, so runs are
    reproducible under ``randomness.seed`` and DDP ranks draw different points.
    """

    def __init__(self, num_general: int = 300, specific: bool = True,
                 query_sampling: str = 'teacher_stats',
                 box_sizes: Tuple[float, float] = (1 / 32, 1.0)) -> None:
        if not (isinstance(num_general, int) and num_general >= 0):
            raise ValueError(f'num_general must be an int >= 0, got {num_general!r}.')
        if num_general == 0 and not specific:
            raise ValueError('No distillation points: set num_general > 0 or specific=True.')
        if query_sampling not in QUERY_SAMPLINGS:
            raise ValueError(f'Unknown query_sampling {query_sampling!r}; use one of '
                             f'{QUERY_SAMPLINGS}.')
        if len(box_sizes) != 2 or not 0 < box_sizes[0] <= box_sizes[1] <= 1:
            raise ValueError(f'box_sizes must be (low, high) with 0 < low <= high <= 1, got '
                             f'{box_sizes!r}.')
        self.num_general = num_general
        self.specific = specific
        self.query_sampling = query_sampling
        self.box_sizes = tuple(float(size) for size in box_sizes)

    def __call__(self, teacher: nn.Module, batch_size: int,
                 decoder_inputs: Optional[Dict[str, Tensor]] = None) -> List:
        """The groups of one step, on the teacher's device, no gradient.

        Args:
            teacher (nn.Module): the teacher (eval mode).
            batch_size (int): B.
            decoder_inputs (dict, optional): the teacher's memory (:func:`recorded_memory`);
                needed for the specific points of Deformable DETR / DINO.

        Returns:
            list: ``[general]``, ``[specific]`` or ``[general, specific]``. DETR families:
            (B, P, D) float32 tensors with P = ``num_general`` for general points and the
            teacher's num_queries for specific ones, D as :func:`query_dim`. Deformable DETR
            / DINO: :class:`~.box_points.BoxGroup`\\ s.
        """
        groups = []
        if self.num_general:
            groups.append(self.general(teacher, batch_size))
        if self.specific:
            groups.append(self.specific_points(teacher, batch_size, decoder_inputs))
        return groups

    def general(self, teacher: nn.Module, batch_size: int):
        """Random points in the teacher's query space: (B, P_g, D), or a BoxGroup."""
        family = detector_family(teacher)
        device = next(teacher.parameters()).device
        if family in BOX_FAMILIES and teacher.as_two_stage:
            return BoxGroup(random_boxes(batch_size, self.num_general, self.box_sizes, device))
        if family == 'dab_detr':
            # Anchors (cx, cy, w, h) uniform in [0, 1]; DAB-DETR's decoder applies sigmoid
            # to query_pos, so pass them in inverse-sigmoid space as its own anchors are.
            shape = (batch_size, self.num_general, teacher.query_dim)
            return inverse_sigmoid(torch.rand(shape, device=device))
        queries = self.random_queries(teacher.query_embedding.weight.detach().float(),
                                      batch_size)
        if family in BOX_FAMILIES:  # single-stage Deformable DETR: rows are query_pos|query
            return random_point_group(teacher, queries)
        return queries

    def random_queries(self, learned: Tensor, batch_size: int) -> Tensor:
        """(B, P_g, W) vectors like the rows of ``learned`` (m, W), per
        ``query_sampling``."""
        noise = torch.randn(batch_size, self.num_general, learned.shape[1],
                            device=learned.device)
        if self.query_sampling == 'normal':
            return noise
        # unbiased=False: a teacher with a single query still gets a finite (zero) spread.
        return learned.mean(0) + noise * learned.std(0, unbiased=False)

    def specific_points(self, teacher: nn.Module, batch_size: int,
                        decoder_inputs: Optional[Dict[str, Tensor]]):
        """The teacher's learned queries (B, m, D), or its own references (a BoxGroup)."""
        if detector_family(teacher) not in BOX_FAMILIES:
            learned = teacher.query_embedding.weight.detach().float()  # (m, D)
            return learned.unsqueeze(0).repeat(batch_size, 1, 1)
        if decoder_inputs is None:
            raise ValueError(f'The specific points of a {type(teacher).__name__} are the '
                             'references its pre_decoder picks from its memory: pass the '
                             "teacher's decoder_inputs (recorded_memory).")
        return teacher_point_group(teacher, decoder_inputs)


def encode(detector: nn.Module, inputs: Tensor, data_samples: SampleList,
           queries: bool = True) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """Run a DETR up to its decoder, as mmdet's ``forward_transformer`` does.

    The same stages in the same order (``extract_feat``, ``pre_transformer``,
    ``forward_encoder``, ``pre_decoder``), so a detection forward continued from here is the
    detector's own (and subclasses overriding a stage, such as KA students, are honoured).
    ``queries=False`` stops before ``pre_decoder``: only the memory, for decoding
    distillation points without detecting (a training DINO's ``pre_decoder`` needs ground
    truth for its denoising queries).

    Returns:
        tuple[dict, dict]: the decoder inputs, ``query`` / ``query_pos`` (B, m, ·) of the
        detection queries, ``memory`` (B, n, C), ``memory_mask`` (B, n) or None,
        ``memory_pos`` (B, n, C) (Deformable DETR / DINO: ``reference_points``,
        ``spatial_shapes``, ``level_start_index``, ``valid_ratios``, DINO's denoising
        queries and ``dn_mask`` in training, no ``memory_pos``); and the head inputs
        ``pre_decoder`` prepared (empty in eval mode for DETR; DINO in training: its
        encoder top-k and ``dn_meta``).
    """
    img_feats = detector.extract_feat(inputs)
    encoder_inputs, decoder_inputs = detector.pre_transformer(img_feats, data_samples)
    encoder_outputs = detector.forward_encoder(**encoder_inputs)
    if not queries:
        decoder_inputs.update(encoder_outputs)
        return decoder_inputs, {}
    if detector_family(detector) == 'dino':  # its denoising queries come from the labels
        encoder_outputs['batch_data_samples'] = data_samples
    query_inputs, head_inputs = detector.pre_decoder(**encoder_outputs)
    decoder_inputs.update(query_inputs)
    return decoder_inputs, head_inputs


def recorded_memory(recorder) -> Dict[str, Tensor]:
    """A detector's decoder inputs from its recorded ``encoder`` call, in float32.

    ``recorder`` is an :class:`~mmka.models.amalgamation_hooks.OutputRecorder` of the
    ``encoder`` submodule with keyword arguments: ``memory`` (B, n, C) is the encoder's
    output, ``memory_mask`` (B, n) its ``key_padding_mask`` and ``memory_pos`` (B, n, C) its
    ``query_pos``, as every DETR's ``pre_decoder`` / ``forward_decoder`` pass them on. Float32
    because the memory may come from reduced-precision teachers or the teacher cache.
    Multi-scale encoders (Deformable DETR, DINO) add their ``spatial_shapes`` (S, 2),
    ``level_start_index`` (S,) and ``valid_ratios`` (B, S, 2).
    """
    call = recorder.kwargs['encoder']
    memory = dict(memory=recorder['encoder'].float(), memory_mask=call['key_padding_mask'],
                  memory_pos=call['query_pos'].float())
    if 'spatial_shapes' in call:
        memory.update(spatial_shapes=call['spatial_shapes'],
                      level_start_index=call['level_start_index'],
                      valid_ratios=call['valid_ratios'].float())
    return memory


def decoder_call_memory(call: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """The memory a detector's decoder was called with, from the call's recorded keyword
    arguments, as :func:`decode_points` takes it.

    DETR families: ``key`` (B, n, C), ``key_padding_mask``, ``key_pos``. Deformable DETR /
    DINO: ``value`` (B, n, C), ``key_padding_mask`` and the level layout the decoder read
    (a KA student's N·L levels included).
    """
    if 'spatial_shapes' in call:
        return dict(memory=call['value'], memory_mask=call['key_padding_mask'],
                    spatial_shapes=call['spatial_shapes'],
                    level_start_index=call['level_start_index'],
                    valid_ratios=call['valid_ratios'])
    return dict(memory=call['key'], memory_mask=call['key_padding_mask'],
                memory_pos=call['key_pos'])


def decode_points(detector: nn.Module, groups: Sequence,
                  decoder_inputs: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
    """Decode query groups with ``detector``'s decoder and head over its own memory.

    Each group is a separate ``forward_decoder`` call (DETR families: with zero content
    queries), exactly as the detector decodes its detection queries (``pre_decoder``), so
    self-attention stays within the group. The head is called as a module (its forward
    hooks fire). Deformable DETR / DINO groups are :class:`~.box_points.BoxGroup`\\ s,
    decoded by :func:`~.box_points.decode_box_groups`.

    Args:
        detector (nn.Module): a detector of :data:`FAMILIES`.
        groups (Sequence): positional queries, each (B, P_g, D), D = :func:`query_dim`, or
            BoxGroups.
        decoder_inputs (dict): from :func:`encode` or :func:`recorded_memory`: ``memory``
            (B, n, C), ``memory_mask``, ``memory_pos`` (multi-scale: ``spatial_shapes``,
            ``level_start_index``, ``valid_ratios``).

    Returns:
        tuple[Tensor, Tensor]: class logits (L, B, P, K) and normalised (cx, cy, w, h)
        boxes (L, B, P, 4) of the L decoder layers, P = Σ P_g, groups in order.
    """
    if detector_family(detector) in BOX_FAMILIES:
        return decode_box_groups(detector, groups, decoder_inputs)
    memory = decoder_inputs['memory']
    width = query_dim(detector)
    all_logits, all_boxes = [], []
    for query_pos in groups:
        if not isinstance(query_pos, Tensor) or query_pos.dim() != 3 \
                or query_pos.shape[0] != memory.shape[0] or query_pos.shape[2] != width:
            got = tuple(query_pos.shape) if isinstance(query_pos, Tensor) else query_pos
            raise ValueError(f'A point group has shape {got}; expected '
                             f'(B={memory.shape[0]}, P, D={width}) for '
                             f'{type(detector).__name__}.')
        query = query_pos.new_zeros(*query_pos.shape[:2], detector.embed_dims)
        head_inputs = detector.forward_decoder(
            query=query,
            query_pos=query_pos,
            memory=memory,
            memory_mask=decoder_inputs['memory_mask'],
            memory_pos=decoder_inputs['memory_pos'])
        logits, boxes = detector.bbox_head(**head_inputs)
        all_logits.append(logits)
        all_boxes.append(boxes)
    return torch.cat(all_logits, dim=2), torch.cat(all_boxes, dim=2)
