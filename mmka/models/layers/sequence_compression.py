"""Sequence compression of the extended student sequence (paper §III-B3, eq. 8, Alg. 1).

The extended sequence X = X^1 ⊕ ... ⊕ X^N has N segments of n tokens each; token ``t * n + i``
is spatial position ``i`` of segment ``t``. Compression keeps exactly one segment per position,
so the kept index set P_slim has size n and the compressed sequence ``X[P_slim]`` is in
position order: position ``i`` keeps its own positional encoding and padding flag.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

STRATEGIES = ('none', 'redundancy', 'isometric', 'random')
ATTENTIONS = ('full', 'grouped')
TRAIN_GUIDES = ('teachers', 'student')
EVAL_GUIDES = ('student', 'teachers')


def token_redundancy(seq: Tensor, padding_mask: Optional[Tensor] = None) -> Tensor:
    """Redundancy of every token in its own image's sequence (paper eq. 8).

    R(x_i | X) = (1/|V|) Σ_{j ∈ V} x̂_i · x̂_j with x̂ = x / ||x||₂, V the valid tokens.
    Since the mean of dot products is the dot product with the mean, this is computed as
    x̂_i · mean_{j ∈ V}(x̂_j): O(L·C) instead of the O(L²·C) similarity matrix S = X̂X̂ᵀ.

    Args:
        seq (Tensor): (B, L, C) token sequence.
        padding_mask (Tensor, optional): (B, L) bool, True at padding tokens. Padding
            tokens are left out of the mean; their own redundancy is still returned but
            carries no meaning.

    Returns:
        Tensor: (B, L) float32 redundancy in [-1, 1].
    """
    # float32: the mean over thousands of unit vectors is not safe in half precision.
    unit = F.normalize(seq.float(), dim=-1)
    if padding_mask is None:
        centre = unit.mean(dim=1, keepdim=True)
    else:
        valid = (~padding_mask).unsqueeze(-1).float()  # (B, L, 1)
        centre = (unit * valid).sum(1, keepdim=True) / valid.sum(1, keepdim=True).clamp(min=1)
    return (unit * centre).sum(-1)


def select_by_redundancy(guide: Tensor, num_segments: int,
                         padding_mask: Optional[Tensor] = None) -> Tensor:
    """Algorithm 1: for each position keep the segment whose token is least redundant.

    Args:
        guide (Tensor): (B, N·n, C_g) sequence the redundancy is measured on.
        num_segments (int): N.
        padding_mask (Tensor, optional): (B, N·n) bool, True at padding.

    Returns:
        Tensor: (B, n) long indices into the N·n sequence, ``t_keep * n + i`` at position i.
        Ties keep the lowest segment (Alg. 1 only replaces on a strictly smaller value);
        padding positions keep segment 0 (their redundancy is undefined).
    """
    batch, length = guide.shape[:2]
    n = length // num_segments
    redundancy = token_redundancy(guide, padding_mask).view(batch, num_segments, n)
    if padding_mask is not None:
        redundancy = redundancy.masked_fill(padding_mask.view(batch, num_segments, n), 0.)
    # torch.argmin returns the first minimum, which is Alg. 1's tie rule.
    segment = redundancy.argmin(dim=1)  # (B, n)
    return segment * n + torch.arange(n, device=guide.device)


class SequenceCompressor(nn.Module):
    """Chooses P_slim (one of N segments per position) and the attention over kept tokens.

    A module without parameters or buffers (nothing in the state dict): it is one only so
    that ``train()`` / ``eval()`` of the detector holding it reach it, since ``'random'``
    draws differently in the two modes (see ``seed``).

    Args:
        num_segments (int): N, the number of segments (teachers).
        strategy (str): ``'none'`` (no compression), ``'redundancy'`` (Alg. 1 on a guide
            sequence), ``'isometric'`` (position i keeps segment i mod N) or ``'random'``
            (a uniformly random segment per position). Defaults to ``'none'``.
        attention (str): encoder self-attention after compression. ``'full'`` (the authors'
            public code): plain attention over the n kept tokens. ``'grouped'``: a valid
            token kept from segment t attends only to valid kept tokens of segment t; padding
            tokens attend to all (so no row is fully masked). ``'grouped'`` costs as much as
            ``'full'`` (masking saves no FLOPs) plus a (B·heads, n, n) bool mask.
            Defaults to ``'full'``.
        seed (int): seed of ``'random'``, which never touches torch's global generator, so
            that nothing else (data augmentation, dropout, other seeds) moves its choice.
            In training mode it draws from a private generator seeded once, here, with
            ``seed``: every step draws anew, the sequence of draws is the same in every run
            (that generator's state is not checkpointed, so a resumed run restarts the
            sequence from the beginning). In eval mode every :meth:`select` call draws from
            a generator freshly seeded with ``seed``: the draw depends only on ``seed`` and
            the batch shape (B, n) (all batches of one shape keep the same segments), never
            on what ran before, so evaluating a checkpoint twice keeps the same tokens.
            Unused by the other strategies. Defaults to 0.
        train_guide (str): the sequence ``'redundancy'`` measures on in training.
            ``'teachers'`` (paper §III-B3): the teachers' concatenated projections X_T,
            because the student's own X_S is not trained yet; evaluation then uses X_S, so
            training and evaluation may keep different tokens. ``'student'`` (mmka option):
            X_S in training too, the same rule as at evaluation. Only the amalgamator reads
            it (it decides whether to pass X_T). Defaults to ``'teachers'``.
        eval_guide (str): the sequence ``'redundancy'`` measures on at evaluation.
            ``'student'`` (paper §III-B3, default): X_S, the only one a deployed student
            has. ``'teachers'`` (mmka diagnostic, not deployable): the teachers' X_T, as in
            training, so evaluation keeps exactly the tokens training would; the student
            can then be evaluated only inside its amalgamator (which runs the teachers'
            projections at test time too). Evaluating a checkpoint both ways measures what
            the paper's train / evaluation mismatch costs.
    """

    def __init__(self, num_segments: int, strategy: str = 'none', attention: str = 'full',
                 seed: int = 0, train_guide: str = 'teachers',
                 eval_guide: str = 'student') -> None:
        super().__init__()
        if strategy not in STRATEGIES:
            raise ValueError(f'compression strategy={strategy!r} is unknown; use one of '
                             f'{STRATEGIES}.')
        if attention not in ATTENTIONS:
            raise ValueError(f'compression attention={attention!r} is unknown; use one of '
                             f'{ATTENTIONS}.')
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f'compression seed={seed!r} must be an int (the seed of the '
                            "'random' strategy's own generator).")
        if train_guide not in TRAIN_GUIDES:
            raise ValueError(f'compression train_guide={train_guide!r} is unknown; use one of '
                             f'{TRAIN_GUIDES}.')
        if eval_guide not in EVAL_GUIDES:
            raise ValueError(f'compression eval_guide={eval_guide!r} is unknown; use one of '
                             f'{EVAL_GUIDES}.')
        self.num_segments = num_segments
        self.strategy = strategy
        self.attention = attention
        self.seed = seed
        self.train_guide = train_guide
        self.eval_guide = eval_guide
        #: The training draws of ``'random'`` (None for the other strategies).
        self.generator = (torch.Generator().manual_seed(seed) if strategy == 'random'
                          else None)

    def extra_repr(self) -> str:
        return (f'num_segments={self.num_segments}, strategy={self.strategy!r}, '
                f'attention={self.attention!r}, seed={self.seed}, '
                f'train_guide={self.train_guide!r}, eval_guide={self.eval_guide!r}')

    @property
    def enabled(self) -> bool:
        return self.strategy != 'none'

    @property
    def wants_teacher_guide(self) -> bool:
        """Whether training should choose P_slim on the teachers' X_T."""
        return self.strategy == 'redundancy' and self.train_guide == 'teachers'

    @property
    def wants_teacher_guide_at_eval(self) -> bool:
        """Whether evaluation should choose P_slim on the teachers' X_T (a diagnostic)."""
        return self.strategy == 'redundancy' and self.eval_guide == 'teachers'

    @torch.no_grad()
    def select(self, guide: Tensor, padding_mask: Optional[Tensor] = None) -> Tensor:
        """P_slim for a batch.

        ``'random'`` draws as the module's mode says (``self.training``, see ``seed``).

        Args:
            guide (Tensor): (B, N·n, C_g); only ``'redundancy'`` reads its values.
            padding_mask (Tensor, optional): (B, N·n) bool, True at padding.

        Returns:
            Tensor: (B, n) long indices into the N·n sequence, one per position, in
            position order (index ``% n`` is ``arange(n)``).
        """
        assert self.enabled, 'select() needs a compression strategy'
        batch, length = guide.shape[:2]
        n = length // self.num_segments
        if self.strategy == 'redundancy':
            return select_by_redundancy(guide, self.num_segments, padding_mask)
        if self.strategy == 'isometric':
            segment = torch.arange(n) % self.num_segments
            segment = segment.expand(batch, n)
        else:
            # Drawn on the CPU so a seeded generator gives the same indices on any device.
            generator = (self.generator if self.training else
                         torch.Generator().manual_seed(self.seed))
            segment = torch.randint(self.num_segments, (batch, n), generator=generator)
        positions = torch.arange(n)
        return (segment * n + positions).to(guide.device)

    def attn_mask(self, kept: Tensor, padding_mask: Optional[Tensor],
                  num_heads: int) -> Optional[Tensor]:
        """Self-attention mask over the kept tokens, or None for ``'full'``.

        Args:
            kept (Tensor): (B, n) indices from :meth:`select`.
            padding_mask (Tensor, optional): (B, n) bool padding of the kept tokens.
            num_heads (int): heads of the encoder's attention.

        Returns:
            Tensor | None: (B·num_heads, n, n) bool, True where attention is blocked, in the
            batch-major head order that ``nn.MultiheadAttention`` expects.
        """
        if self.attention == 'full':
            return None
        n = kept.size(1)
        segment = kept // n  # (B, n)
        blocked = segment.unsqueeze(2) != segment.unsqueeze(1)  # (B, query, key)
        if padding_mask is not None:
            # Padding queries are never read; letting them see every key keeps their softmax
            # rows finite (a row with all keys blocked would give NaN and leak through 0·NaN).
            blocked = blocked & ~padding_mask.unsqueeze(2)
        return blocked.repeat_interleave(num_heads, dim=0)


def gather_tokens(seq: Tensor, indices: Tensor) -> Tensor:
    """``[seq]_P``: the tokens of each image selected by its own index set.

    Args:
        seq (Tensor): (B, L, C) sequence, e.g. the teachers' concatenated (B, N·n, C).
        indices (Tensor): (B, k) long indices into L, e.g. the student's kept indices.

    Returns:
        Tensor: (B, k, C).
    """
    return seq.gather(1, indices.unsqueeze(-1).expand(-1, -1, seq.size(-1)))
