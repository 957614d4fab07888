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
=====================  ===============================================  ============

Groups (:class:`DistillationPointSampler`):

- **general** points, fresh every call: DAB-DETR anchors drawn uniformly in [0, 1]^D (the
  KD-DETR reference code) and passed through ``inverse_sigmoid`` as DAB-DETR's own anchors
  are; DETR / Conditional DETR position vectors drawn from a Gaussian (see
  :data:`QUERY_SAMPLINGS`);
- **specific** points: the teacher's own learned queries (``query_embedding.weight``).
"""
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.models.detectors import DABDETR, DETR, ConditionalDETR
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.structures import SampleList

FAMILIES = ('detr', 'conditional_detr', 'dab_detr')
#: How general points of DETR / Conditional DETR are drawn, per channel c of query_pos:
#: ``'teacher_stats'``: N(μ_c, σ_c²) with the mean and standard deviation of channel c over
#: the teacher's learned queries: random queries from the distribution its decoder was
#: trained on (default); ``'normal'``: N(0, 1), the distribution of an untrained
#: ``nn.Embedding`` (mmdet initialises ``query_embedding`` that way).
QUERY_SAMPLINGS = ('teacher_stats', 'normal')


def detector_family(detector: nn.Module) -> str:
    """``'detr'``, ``'conditional_detr'`` or ``'dab_detr'`` (subclasses count as their base).

    Raises:
        TypeError: not a DETR, ConditionalDETR or DABDETR (e.g. Deformable DETR or DINO,
            whose decoders take reference points from a two-stage encoder).
    """
    # DABDETR and ConditionalDETR both subclass DETR: test the most specific first.
    for family, cls in (('dab_detr', DABDETR), ('conditional_detr', ConditionalDETR),
                        ('detr', DETR)):
        if isinstance(detector, cls):
            return family
    raise TypeError(f'KD-DETR distillation points support mmdet DETR, ConditionalDETR and '
                    f'DABDETR (and subclasses); got {type(detector).__name__}.')


def query_dim(detector: nn.Module) -> int:
    """D, the width of one positional query: embed_dims, or 4 (2) for DAB-DETR anchors."""
    return detector.query_dim if detector_family(detector) == 'dab_detr' \
        else detector.embed_dims


def check_point_compatible(teacher: nn.Module, student: nn.Module) -> None:
    """Raise a ValueError unless both detectors can decode the same query groups.

    Required: the same family (a query means the same thing to both), the same embed dims
    (a DETR / Conditional DETR query *is* an embed_dims vector; the memories and heads are
    compared in the same space), the same query_dim for DAB-DETR, and no DAB-DETR pattern
    embeddings (their content queries are learned per model, so they would differ between
    teacher and student). Backbones and layer counts may differ.
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
        specific (bool): add the teacher's m learned queries as a second group.
        query_sampling (str): DETR / Conditional DETR general points, one of
            :data:`QUERY_SAMPLINGS`. DAB-DETR anchors are always uniform in [0, 1].

    Every image of the batch gets its own general points (more distinct points per step at
    the same cost). They come from the global torch RNG on the teacher's device, so runs are
    reproducible under ``randomness.seed`` and DDP ranks draw different points.
    """

    def __init__(self, num_general: int = 300, specific: bool = True,
                 query_sampling: str = 'teacher_stats') -> None:
        if not (isinstance(num_general, int) and num_general >= 0):
            raise ValueError(f'num_general must be an int >= 0, got {num_general!r}.')
        if num_general == 0 and not specific:
            raise ValueError('No distillation points: set num_general > 0 or specific=True.')
        if query_sampling not in QUERY_SAMPLINGS:
            raise ValueError(f'Unknown query_sampling {query_sampling!r}; use one of '
                             f'{QUERY_SAMPLINGS}.')
        self.num_general = num_general
        self.specific = specific
        self.query_sampling = query_sampling

    def __call__(self, teacher: nn.Module, batch_size: int) -> List[Tensor]:
        """The groups of one step, each (B, P_g, D) float32 on the teacher's device.

        Returns:
            list[Tensor]: ``[general]``, ``[specific]`` or ``[general, specific]``, with
            P = ``num_general`` for general points and the teacher's num_queries for
            specific ones; D as :func:`query_dim`.
        """
        learned = teacher.query_embedding.weight.detach().float()  # (m, D)
        groups = []
        if self.num_general:
            groups.append(self.general(teacher, batch_size, learned))
        if self.specific:
            groups.append(learned.unsqueeze(0).repeat(batch_size, 1, 1))
        return groups

    def general(self, teacher: nn.Module, batch_size: int, learned: Tensor) -> Tensor:
        """(B, P_g, D) random positional queries in the teacher's query space."""
        shape = (batch_size, self.num_general, learned.shape[1])
        if detector_family(teacher) == 'dab_detr':
            # Anchors (cx, cy, w, h) uniform in [0, 1]; DAB-DETR's decoder applies sigmoid
            # to query_pos, so pass them in inverse-sigmoid space as its own anchors are.
            return inverse_sigmoid(torch.rand(shape, device=learned.device))
        noise = torch.randn(shape, device=learned.device)
        if self.query_sampling == 'normal':
            return noise
        # unbiased=False: a teacher with a single query still gets a finite (zero) spread.
        return learned.mean(0) + noise * learned.std(0, unbiased=False)


def encode(detector: nn.Module, inputs: Tensor,
           data_samples: SampleList) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """Run a DETR up to its decoder, as mmdet's ``forward_transformer`` does.

    The same stages in the same order (``extract_feat``, ``pre_transformer``,
    ``forward_encoder``, ``pre_decoder``), so a detection forward continued from here is the
    detector's own (and subclasses overriding a stage, such as KA students, are honoured).

    Returns:
        tuple[dict, dict]: the decoder inputs, ``query`` / ``query_pos`` (B, m, ·) of the
        detection queries, ``memory`` (B, n, C), ``memory_mask`` (B, n) or None,
        ``memory_pos`` (B, n, C); and the head inputs ``pre_decoder`` prepared (usually
        empty).
    """
    img_feats = detector.extract_feat(inputs)
    encoder_inputs, decoder_inputs = detector.pre_transformer(img_feats, data_samples)
    encoder_outputs = detector.forward_encoder(**encoder_inputs)
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
    """
    call = recorder.kwargs['encoder']
    return dict(memory=recorder['encoder'].float(), memory_mask=call['key_padding_mask'],
                memory_pos=call['query_pos'].float())


def decode_points(detector: nn.Module, groups: Sequence[Tensor],
                  decoder_inputs: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
    """Decode query groups with ``detector``'s decoder and head over its own memory.

    Each group is a separate ``forward_decoder`` call with zero content queries, exactly as
    the detector decodes its detection queries (``pre_decoder``), so self-attention stays
    within the group. The head is called as a module (its forward hooks fire).

    Args:
        detector (nn.Module): a DETR / ConditionalDETR / DABDETR.
        groups (Sequence[Tensor]): positional queries, each (B, P_g, D), D =
            :func:`query_dim`.
        decoder_inputs (dict): from :func:`encode`: ``memory`` (B, n, C), ``memory_mask``,
            ``memory_pos``.

    Returns:
        tuple[Tensor, Tensor]: class logits (L, B, P, K) and normalised (cx, cy, w, h)
        boxes (L, B, P, 4) of the L decoder layers, P = Σ P_g, groups in order.
    """
    memory = decoder_inputs['memory']
    width = query_dim(detector)
    all_logits, all_boxes = [], []
    for query_pos in groups:
        if query_pos.dim() != 3 or query_pos.shape[0] != memory.shape[0] \
                or query_pos.shape[2] != width:
            raise ValueError(f'A point group has shape {tuple(query_pos.shape)}; expected '
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
