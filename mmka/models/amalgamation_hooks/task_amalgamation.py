"""Task-level amalgamation (TA, paper §III-C): Hungarian distillation from pooled teachers."""
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.models.detectors import DINO
from mmdet.structures import SampleList
from ..layers import two_stage_proposals
from ..task_modules import MATCH_COSTS, SoftTargetBuilder, ta_assigner_cfg
from .base import AmalgamationHook
from .recorder import OutputRecorder


def head_kind(detector: nn.Module) -> str:
    """``'sigmoid'`` for focal/sigmoid heads (Conditional/DAB-DETR), else ``'softmax'``."""
    return 'sigmoid' if getattr(detector.bbox_head.loss_cls, 'use_sigmoid', False) \
        else 'softmax'


@MODELS.register_module()
class TaskAmalgamation(AmalgamationHook):
    """The student mimics the teachers' pooled soft predictions (eqs. 9-11).

    Records the output of every ``bbox_head`` forward — per-layer class logits
    (L, B, m, K) and normalised (cx, cy, w, h) boxes (L, B, m, 4); denoising queries (DINO)
    are left out — pads the teachers'
    last-layer predictions to the student's classes by name, keeps the confident ones
    (:class:`SoftTargetBuilder`), matches them to the student's queries and applies
    :class:`TaskAmalgamationLoss`.

    Args:
        targets (dict, optional): options of :class:`SoftTargetBuilder` (``pad``,
            ``floor_logit``, ``temperature``, ``filter``, ``score_thr``, ``max_targets``).
        loss (dict, optional): config of the loss, default ``dict(type='TaskAmalgamationLoss')``
            (paper weights; ``conf_weighting``, ``unmatched``, ...). An ``assigner`` in it
            replaces the one ``match_cost`` picks.
        match_cost (str, optional): the matching cost, see :func:`ta_assigner_cfg`:
            ``'kl'`` (paper eq. 10: KL + L_box − conf, the default) or ``'prob'`` (the
            authors' code: DETR's own cost on the teacher's argmax label).
        aux_layers (bool): also distil every auxiliary decoder layer of the student against
            the same targets (matched per layer), as the authors' code does. The paper is
            silent. Default False: the last layer only, so layers 1..L-1 learn from the
            ground truth alone (at λ_d).
        proposals (bool): also distil a DINO student's two-stage proposals (its encoder's
            top-k class scores and boxes, :func:`two_stage_proposals`) against the same
            targets, matched on their own: DINO's encoder loss does the same against the
            labels. Keys ``enc_loss_ta_cls``, ``enc_loss_ta_bbox``, ``enc_loss_ta_iou``.
            Without ground truth (label-free, λ_d = 0) nothing else trains the proposal
            branches, since the decoder starts from the proposals' boxes detached. The
            paper's DETR has no proposals. Default False.
        loss_weight (float): λ_task. Default 1.0 (paper).
    """

    def __init__(self, targets: Optional[dict] = None, loss: Optional[dict] = None,
                 match_cost: Optional[str] = None, aux_layers: bool = False,
                 proposals: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.target_cfg = dict(targets or {})
        self.loss_cfg = dict(loss or dict(type='TaskAmalgamationLoss'))
        if match_cost is not None and 'assigner' in self.loss_cfg:
            raise ValueError(f'match_cost={match_cost!r} and loss.assigner both choose the '
                             'matching; give only one.')
        if match_cost not in (None, *MATCH_COSTS):
            raise ValueError(f'Unknown match_cost {match_cost!r}; use one of {MATCH_COSTS}.')
        self.match_cost = match_cost or 'kl'
        self.aux_layers = aux_layers
        self.proposals = proposals
        self.loss_weight = loss_weight

    def setup(self, student: nn.Module, teachers: Sequence[nn.Module],
              student_classes: Sequence[str], teacher_classes: Sequence[Sequence[str]]) -> None:
        kinds = {head_kind(t) for t in teachers}
        kind = head_kind(student)
        if kinds != {kind}:
            raise ValueError(f'TA needs teachers and student with the same head kind; teachers '
                             f'have {sorted(kinds)}, the student {kind!r}.')
        self.builder = SoftTargetBuilder(student_classes, teacher_classes, head=kind,
                                         **self.target_cfg)
        # Built here, not in __init__: the class term of the matching cost depends on the
        # head kind of the models.
        loss_cfg = dict(self.loss_cfg)
        loss_cfg.setdefault('assigner', ta_assigner_cfg(self.match_cost, head=kind))
        self.criterion = MODELS.build(loss_cfg)
        if self.proposals:
            if not isinstance(student, DINO):
                raise ValueError(f'TaskAmalgamation(proposals=True) distils two-stage DINO '
                                 f'proposals; the student is a {type(student).__name__}. '
                                 'Set proposals=False, or use a DINO student.')
            # The decoder's call holds the memory the proposals were picked from.
            self.proposal_recorder = OutputRecorder(student, ['decoder'], with_kwargs=True)
        super().setup(student, teachers, student_classes, teacher_classes)

    def student_modules(self, student: nn.Module) -> List[str]:
        return ['bbox_head']

    def teacher_modules(self, teacher: nn.Module) -> List[str]:
        return ['bbox_head']

    def loss(self, student: nn.Module, data_samples: SampleList) -> Dict[str, Tensor]:
        teacher_outs = [rec['bbox_head'] for rec in self.teacher_recorders]
        targets = self.builder([cls[-1] for cls, _ in teacher_outs],
                               [box[-1] for _, box in teacher_outs])
        # DINO's training forward puts its denoising queries first: distil the last
        # num_queries, the detection queries (all of them for the other detectors).
        all_cls, all_boxes = (x[:, :, -student.num_queries:]
                              for x in self.student_recorder['bbox_head'])
        metas = [s.metainfo for s in data_samples]
        if self.aux_layers:
            losses = self.criterion.loss_by_layers(all_cls, all_boxes, targets, metas)
        else:
            losses = self.criterion(all_cls[-1], all_boxes[-1], targets, metas)
        if self.proposals:
            call = self.proposal_recorder.kwargs['decoder']
            enc_cls, enc_boxes = two_stage_proposals(
                student, call['value'], call['key_padding_mask'], call['spatial_shapes'])
            losses.update({f'enc_{k}': v for k, v in
                           self.criterion(enc_cls, enc_boxes, targets, metas).items()})
        return {k: v * self.loss_weight for k, v in losses.items()}

    def clear(self) -> None:
        super().clear()
        if self.proposals:
            self.proposal_recorder.clear()
