"""Teacher predictions -> amalgamated soft targets in the student's label space (§III-C1).

Each teacher t predicts m_t objects with logits over its own classes C^t. Their probabilities
are padded to the student's classes C (the union, matched **by class name**), the N teachers'
predictions are pooled per image (Σ m_t candidates), and the confident ones become the soft
targets that the student is matched to (eq. 10) and trained on (eq. 11).
"""
from typing import List, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.registry import TASK_UTILS
from ...datasets.partitions import check_partition
from .soft_kl import check_head_kind

PAD_MODES = ('zero', 'floor')
FILTERS = ('argmax_fg', 'max_fg')


def class_index_map(student_classes: Sequence[str], teacher_classes: Sequence[str]) -> Tensor:
    """Student label of every teacher label, matched by class name.

    Returns:
        Tensor: long, shape (|C^t|,); entry j is the student label of teacher label j.

    Raises:
        ValueError: a teacher class is not among the student classes.
    """
    student_index = {name: i for i, name in enumerate(student_classes)}
    unknown = [name for name in teacher_classes if name not in student_index]
    if unknown:
        raise ValueError(f'Teacher classes {unknown} are not student classes '
                         f'{tuple(student_classes)}; fix the spelling or add them to the '
                         "student's classes.")
    return torch.tensor([student_index[name] for name in teacher_classes], dtype=torch.long)


def _probs(logits: Tensor, head: str) -> Tensor:
    return logits.softmax(-1) if head == 'softmax' else logits.sigmoid()


def pad_teacher_probs(logits: Tensor, index_map: Tensor, num_classes: int, head: str,
                      pad: str = 'zero', floor_logit: float = -5.0,
                      temperature: float = 1.0) -> Tensor:
    """Teacher probabilities at temperature T in the student's label space (§III-C1).

    Args:
        logits (Tensor): teacher logits, shape (..., |C^t|+1) for ``'softmax'`` (background
            last, as mmdet's ``DETRHead``) or (..., |C^t|) for ``'sigmoid'``.
        index_map (Tensor): long (|C^t|,), from :func:`class_index_map`.
        num_classes (int): |C|, the number of student classes.
        head (str): ``'softmax'`` or ``'sigmoid'``.
        pad (str): how the classes of other teachers are filled:
            ``'zero'`` (the paper): probability 0;
            ``'floor'`` (the authors' public code): the logits are padded with
            ``floor_logit`` *before* the softmax/sigmoid, so those classes get a small
            probability (softmax: renormalised with the teacher's own classes; sigmoid:
            sigmoid(floor_logit / T)). The floor is a logit, so T scales it too.
        temperature (float): T; probabilities come from logits / T (sigmoid too: each
            class's Bernoulli probability is sigmoid(z / T)).

    Returns:
        Tensor: shape (..., |C|+1) for softmax (background last) or (..., |C|) for sigmoid.
    """
    logits = logits.float()
    width = num_classes + 1 if head == 'softmax' else num_classes
    columns = index_map.to(logits.device)
    if head == 'softmax':  # the background column moves from |C^t| to |C|
        columns = torch.cat([columns, columns.new_tensor([num_classes])])
    if pad == 'floor':
        padded = logits.new_full((*logits.shape[:-1], width), floor_logit)
        padded[..., columns] = logits
        return _probs(padded / temperature, head)
    probs = logits.new_zeros((*logits.shape[:-1], width))
    probs[..., columns] = _probs(logits / temperature, head)
    return probs


def teacher_confidence(logits: Tensor, head: str) -> Tuple[Tensor, Tensor]:
    """conf(p) of eqs. 10-11 and the teacher label that attains it.

    conf is the largest non-background probability (softmax) or the largest class
    probability (sigmoid), always at T = 1 and over the teacher's own classes: the
    threshold then means the same whatever the distillation temperature, the padding mode
    or the number of other teachers' classes (floor padding over many classes would
    otherwise dilute a softmax teacher's confidence).

    Args:
        logits (Tensor): teacher logits, shape (..., |C^t|+1) or (..., |C^t|).
        head (str): ``'softmax'`` or ``'sigmoid'``.

    Returns:
        tuple[Tensor, Tensor]: conf (...,) and the argmax teacher label (...,).
    """
    probs = _probs(logits.float(), head)
    if head == 'softmax':
        probs = probs[..., :-1]
    return probs.max(-1)


def argmax_is_foreground(logits: Tensor, head: str) -> Tensor:
    """Whether a teacher's most likely outcome is an object class, not background.

    softmax: the argmax over the |C^t| classes + background is a class (ties go to the
    class: ``torch.argmax`` returns the first maximum and background is last); sigmoid:
    always True, since such a head has no background outcome.

    Args:
        logits (Tensor): teacher logits, shape (..., |C^t|+1) or (..., |C^t|).
        head (str): ``'softmax'`` or ``'sigmoid'``.

    Returns:
        Tensor: bool, shape (...,).
    """
    if head == 'sigmoid':
        return logits.new_ones(logits.shape[:-1], dtype=torch.bool)
    return logits.float().argmax(-1) != logits.shape[-1] - 1


@TASK_UTILS.register_module()
class SoftTargetBuilder:
    """Pool N teachers' last-layer predictions into per-image soft targets (§III-C1).

    Args:
        student_classes (Sequence[str]): the student's classes C, in label order.
        teacher_classes (Sequence[Sequence[str]]): each teacher's classes C^t, in its label
            order; disjoint, all in ``student_classes``.
        head (str): ``'softmax'`` or ``'sigmoid'``, the teachers' head kind. The student must
            have the same kind (the loss checks the width of its logits).
        pad (str): ``'zero'`` or ``'floor'``, see :func:`pad_teacher_probs`.
        floor_logit (float): the logit of other teachers' classes when ``pad='floor'``.
        temperature (float): T of the soft targets (the public code uses 4, the paper's
            equations have none, i.e. 1).
        filter (str): which predictions may become targets (the paper only says "filter
            out teacher targets with low confidence", §III-C2):
            ``'argmax_fg'`` (the authors' public code, the default): the teacher's argmax
            over its classes + background is a class, and conf > ``score_thr``;
            ``'max_fg'``: conf > ``score_thr`` alone, which also admits a query whose most
            likely outcome is background (e.g. background 0.6, a class 0.3).
            Sigmoid heads have no background, so both rules are "the largest class
            probability > ``score_thr``".
        score_thr (float): the conf threshold of ``filter`` (public code: 0.1).
        max_targets (int): at most this many targets per image, highest conf first
            (public code: 50).

    Call with the teachers' last-layer outputs; returns one :class:`InstanceData` per image
    with k targets (k may be 0):

    - ``probs`` (k, |C|+1) or (k, |C|): padded probabilities at temperature T;
    - ``bboxes`` (k, 4): normalised (cx, cy, w, h);
    - ``scores`` (k,): conf at T = 1, sorted in descending order;
    - ``labels`` (k,): the student label of the most probable class;
    - ``teacher`` (k,): index of the teacher that predicted the target;
    - metainfo ``head`` and ``temperature``, read by the matching cost and the loss so that
      they use the same KL as the targets were built for.
    """

    def __init__(self,
                 student_classes: Sequence[str],
                 teacher_classes: Sequence[Sequence[str]],
                 head: str = 'softmax',
                 pad: str = 'zero',
                 floor_logit: float = -5.0,
                 temperature: float = 1.0,
                 filter: str = 'argmax_fg',
                 score_thr: float = 0.1,
                 max_targets: int = 50) -> None:
        check_head_kind(head)
        if pad not in PAD_MODES:
            raise ValueError(f'Unknown pad mode {pad!r}; use one of {PAD_MODES}.')
        if filter not in FILTERS:
            raise ValueError(f'Unknown target filter {filter!r}; use one of {FILTERS}.')
        if not temperature > 0:
            raise ValueError(f'temperature must be > 0, got {temperature!r}.')
        if not 0 <= score_thr < 1:
            raise ValueError(f'score_thr must be in [0, 1), got {score_thr!r}.')
        if not (isinstance(max_targets, int) and max_targets >= 1):
            raise ValueError(f'max_targets must be an int >= 1, got {max_targets!r}.')
        if (isinstance(teacher_classes, str) or len(teacher_classes) == 0
                or any(isinstance(group, str) for group in teacher_classes)):
            raise TypeError('teacher_classes must be a non-empty list of class-name lists, '
                            'one per teacher, e.g. [["cat", "dog"], ["car"]]; got '
                            f'{teacher_classes!r}.')
        check_partition(teacher_classes, student_classes)
        self.num_classes = len(student_classes)
        self.index_maps = [class_index_map(student_classes, c) for c in teacher_classes]
        self.head = head
        self.pad = pad
        self.floor_logit = floor_logit
        self.temperature = temperature
        self.filter = filter
        self.score_thr = score_thr
        self.max_targets = max_targets

    @torch.no_grad()
    def __call__(self, teacher_logits: Sequence[Tensor],
                 teacher_boxes: Sequence[Tensor]) -> List[InstanceData]:
        """Soft targets of every image.

        Args:
            teacher_logits (Sequence[Tensor]): one per teacher, shape (B, m_t, |C^t|+1) for
                softmax heads or (B, m_t, |C^t|) for sigmoid heads.
            teacher_boxes (Sequence[Tensor]): one per teacher, shape (B, m_t, 4), normalised
                (cx, cy, w, h).

        Returns:
            list[InstanceData]: B target sets, fields as in the class docstring.
        """
        self._check_inputs(teacher_logits, teacher_boxes)
        pooled = self._pool(teacher_logits, teacher_boxes)
        return [self._select(*(field[b] for field in pooled)) for b in range(len(pooled[0]))]

    def _check_inputs(self, teacher_logits: Sequence[Tensor],
                      teacher_boxes: Sequence[Tensor]) -> None:
        num_teachers = len(self.index_maps)
        if len(teacher_logits) != num_teachers or len(teacher_boxes) != num_teachers:
            raise ValueError(f'Expected logits and boxes of {num_teachers} teachers, got '
                             f'{len(teacher_logits)} and {len(teacher_boxes)}.')
        extra = 1 if self.head == 'softmax' else 0
        batch = tuple(teacher_logits[0].shape[:1])
        for t, (logits, boxes) in enumerate(zip(teacher_logits, teacher_boxes)):
            width = len(self.index_maps[t]) + extra
            if logits.dim() != 3 or tuple(logits.shape[:1]) != batch or logits.shape[2] != width:
                raise ValueError(
                    f'Teacher {t} logits have shape {tuple(logits.shape)}; expected '
                    f'(B, m, {width}) for a {self.head} head over its '
                    f'{len(self.index_maps[t])} classes, with the same B for all teachers.')
            if tuple(boxes.shape) != (*logits.shape[:2], 4):
                raise ValueError(f'Teacher {t} boxes have shape {tuple(boxes.shape)}; '
                                 f'expected {(*logits.shape[:2], 4)}.')

    def _pool(self, teacher_logits: Sequence[Tensor],
              teacher_boxes: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """All teachers' predictions side by side: fields of shape (B, Σ m_t, ...).

        The last field, ``eligible`` (bool), is what ``filter`` admits besides the
        threshold on conf.
        """
        probs, boxes, scores, labels, teacher, eligible = [], [], [], [], [], []
        for t, (logits, index_map) in enumerate(zip(teacher_logits, self.index_maps)):
            probs.append(
                pad_teacher_probs(logits, index_map, self.num_classes, self.head, self.pad,
                                  self.floor_logit, self.temperature))
            conf, label = teacher_confidence(logits, self.head)
            scores.append(conf)
            labels.append(index_map.to(label.device)[label])
            teacher.append(torch.full_like(label, t))
            boxes.append(teacher_boxes[t].float())
            eligible.append(argmax_is_foreground(logits, self.head) if self.filter == 'argmax_fg'
                            else torch.ones_like(label, dtype=torch.bool))
        return tuple(
            torch.cat(field, dim=1)
            for field in (probs, boxes, scores, labels, teacher, eligible))

    def _select(self, probs: Tensor, boxes: Tensor, scores: Tensor, labels: Tensor,
                teacher: Tensor, eligible: Tensor) -> InstanceData:
        """Keep what ``filter`` admits, at most ``max_targets``, highest conf first."""
        keep = torch.nonzero(eligible & (scores > self.score_thr)).squeeze(1)
        # A stable sort keeps ties in teacher order, so the result is deterministic.
        order = scores[keep].sort(descending=True, stable=True).indices[:self.max_targets]
        keep = keep[order]
        return InstanceData(
            metainfo=dict(head=self.head, temperature=self.temperature),
            probs=probs[keep],
            bboxes=boxes[keep],
            scores=scores[keep],
            labels=labels[keep],
            teacher=teacher[keep])
