"""KA-DETR students: mmdet DETR-family detectors with an extended encoder sequence."""
from mmdet.models.detectors import DABDETR, DETR, DeformableDETR
from mmdet.registry import MODELS

from .conditional_detr_any_dim import ConditionalDETRAnyDim
from .dino_any_dim import DINOAnyDim
from .multiscale_sequence_extension import MultiScaleSequenceExtensionMixin
from .prenorm_detr import PreNormDETR
from .sequence_extension import SequenceExtensionMixin


@MODELS.register_module()
class KADETRStudent(SequenceExtensionMixin, DETR):
    """DETR student of KA-DETR (paper §III-B): N input projections, block-diagonal encoder
    self-attention, optional sequence compression.

    Shapes (B images, n = h·w tokens per segment, C dims): X_S (B, N·n, C); encoder layers
    (B·N, n, C) folded / (B, N·n, C) masked / (B, n, C) compressed; decoder memory
    (B, N·n, C) or (B, n, C); :attr:`last_kept_indices` (B, n). Details, hooks and
    arguments: :class:`SequenceExtensionMixin`.

    Example:
        >>> model = dict(type='KADETRStudent', num_teachers=2,
        ...              compression=dict(strategy='redundancy'), **detr_model_cfg)
    """


@MODELS.register_module()
class KAPreNormDETRStudent(SequenceExtensionMixin, PreNormDETR):
    """Pre-norm DETR student (the paper's DETR, ``pre_norm``); see
    :class:`SequenceExtensionMixin`. The encoder's final LayerNorm acts per token, so folding
    the segments into the batch is still exact; hooked ``encoder.layers.{l}`` outputs are the
    residual stream before that norm (as the teachers' are, when they are pre-norm too)."""


@MODELS.register_module()
class KAConditionalDETRStudent(SequenceExtensionMixin, ConditionalDETRAnyDim):
    """Conditional DETR (any embed dims) student; see :class:`SequenceExtensionMixin`."""


@MODELS.register_module()
class KADABDETRStudent(SequenceExtensionMixin, DABDETR):
    """DAB-DETR student; see :class:`SequenceExtensionMixin`. DAB-DETR's encoder scales the
    positional encoding by an MLP of each token, a per-token operation, so folding the
    segments into the batch is still exact."""


@MODELS.register_module()
class KADeformableDETRStudent(MultiScaleSequenceExtensionMixin, DeformableDETR):
    """Deformable DETR student (single- or two-stage, with or without box refinement): N
    multi-level projections, per-segment deformable encoder, decoder over N·L levels; see
    :class:`MultiScaleSequenceExtensionMixin`. Loads plain ``DeformableDETR`` checkpoints."""


@MODELS.register_module()
class KADINOStudent(MultiScaleSequenceExtensionMixin, DINOAnyDim):
    """DINO student (any embed dims); see :class:`MultiScaleSequenceExtensionMixin`. Loads
    plain mmdet ``DINO`` checkpoints. Two-stage query selection ranks positions by the best
    class logit, as DINO does, over the best segment of each position."""

    proposal_score = 'max'
