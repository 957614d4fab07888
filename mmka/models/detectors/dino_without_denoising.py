"""DINO trained without its contrastive denoising loss: a control for label-free rows."""
from typing import Dict

from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from .dino_any_dim import DINOAnyDim


@MODELS.register_module()
class DINOWithoutDenoising(DINOAnyDim):
    """:class:`DINOAnyDim` trained without the contrastive denoising (CDN) losses: the
    ``dn_*`` terms are dropped, every other loss is DINO's. Inference is DINO's (it never
    uses denoising queries) and the weights are the same, so a checkpoint loads into either
    class.

    The denoising queries are still built and decoded (mmdet 3.3's ``DINOHead`` cannot
    split outputs without ``dn_meta``), but DINO's attention mask hides them from the
    detection queries, so without their loss they change nothing: the gradients are those
    of a DINO without denoising (tested against DINO's own matching losses).

    Why: label-free amalgamation trains a DINO student without any ground truth, so the
    denoising term, which only ground truth can build, is gone from it. This class trains
    the same network on ground truth without that term, which measures what denoising is
    worth to training apart from the teachers.
    """

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """DINO's losses but the ``dn_*`` ones (``dn_loss_*``, ``d{i}.dn_loss_*``)."""
        losses = {key: value for key, value in super().loss(batch_inputs,
                                                            batch_data_samples).items()
                  if 'dn_loss' not in key}
        # A zero term keeps the label embedding (used by denoising queries only) in the
        # graph, as mmdet does for a batch without targets: DDP expects a gradient for
        # every parameter.
        unused = self.dn_query_generator.label_embedding.weight.sum() * 0.0
        losses['loss_cls'] = losses['loss_cls'] + unused
        return losses
