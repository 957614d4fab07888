"""The KL divergence between teacher soft targets and student logits (paper eqs. 10-11).

One definition serves both the matching cost (eq. 10) and the task-level amalgamation loss
(eq. 11), so the two can never disagree:

    D(p || p̂) = T² · KL(p || p̂^T),   p̂^T = student probabilities from logits / T,

where ``p`` are the teacher's probabilities already computed at temperature ``T`` (see
:class:`~mmka.models.task_modules.SoftTargetBuilder`). The T² factor keeps the gradient
magnitude independent of ``T`` (Hinton et al., 2015); at ``T = 1`` it is the paper's plain KL.

Two head kinds:

- ``'softmax'`` (DETR): ``p`` and ``p̂`` are distributions over |C|+1 classes, background last;
  KL = Σ_c p_c log(p_c / p̂_c).
- ``'sigmoid'`` (Conditional DETR, DAB-DETR focal heads): every class is an independent
  Bernoulli variable; the divergence is the sum over the |C| classes of Bernoulli KLs,
  KL = Σ_c [p_c log(p_c / p̂_c) + (1 - p_c) log((1 - p_c) / (1 - p̂_c))]. A class a teacher
  does not know (p_c = 0) contributes -log(1 - p̂_c): the student is taught "not this class".
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

HEAD_KINDS = ('softmax', 'sigmoid')


def check_head_kind(head: str) -> None:
    """Raise a ValueError unless ``head`` is one of :data:`HEAD_KINDS`."""
    if head not in HEAD_KINDS:
        raise ValueError(f'Unknown head kind {head!r}; use one of {HEAD_KINDS} '
                         "('softmax' for DETR heads with a background class, 'sigmoid' for "
                         'focal-loss heads such as Conditional DETR).')


def _outcomes(probs: Tensor, logits: Tensor, head: str) -> Tuple[List[Tensor], List[Tensor]]:
    """Target probabilities and student log-probabilities of every outcome the KL sums over.

    softmax: one outcome per class. sigmoid: "class present" and "class absent" per class,
    with log(1 - sigmoid(z)) = logsigmoid(-z) for numerical stability.
    """
    if head == 'softmax':
        return [probs], [logits.log_softmax(-1)]
    return [probs, 1 - probs], [F.logsigmoid(logits), F.logsigmoid(-logits)]


def soft_kl(target_probs: Tensor, logits: Tensor, head: str, temperature: float = 1.0,
            pairwise: bool = False) -> Tensor:
    """T² · KL(target || student) for soft targets (eqs. 10-11), computed in float32.

    Args:
        target_probs (Tensor): teacher probabilities at temperature ``T``, shape (k, K) with
            K = |C|+1 (softmax) or |C| (sigmoid).
        logits (Tensor): student logits, shape (m, K); (k, K) when ``pairwise`` is False.
        head (str): ``'softmax'`` or ``'sigmoid'``.
        temperature (float): T; student probabilities come from ``logits / T``.
        pairwise (bool): True: every student against every target, the matching cost;
            False: row i against row i, the loss.

    Returns:
        Tensor: (m, k) if ``pairwise`` else (k,).
    """
    check_head_kind(head)
    # Under AMP, log-probabilities and the matmul below would run in half precision; the KL
    # of near-identical distributions is a small difference of large terms, so keep float32.
    with torch.autocast(device_type=logits.device.type, enabled=False):
        target_probs = target_probs.float()
        logits = logits.float() / temperature
        probs, log_q = _outcomes(target_probs, logits, head)
        # Σ p log p with 0 log 0 = 0 (zero-padded classes of other teachers).
        neg_entropy = sum(torch.xlogy(p, p).sum(-1) for p in probs)
        if pairwise:
            cross = sum(lq @ p.t() for p, lq in zip(probs, log_q))
            kl = neg_entropy.unsqueeze(0) - cross
        else:
            cross = sum((p * lq).sum(-1) for p, lq in zip(probs, log_q))
            kl = neg_entropy - cross
    return kl * temperature**2


def background_target(head: str, width: int, like: Tensor) -> Tensor:
    """The hard "no object" target in a head's output space, shape (width,).

    softmax: one-hot on the background class (last), so its KL is the cross-entropy towards
    background; sigmoid: all classes absent (zeros), so its KL is the BCE towards zero.
    """
    check_head_kind(head)
    target = like.new_zeros(width, dtype=torch.float32)
    if head == 'softmax':
        target[-1] = 1
    return target
