"""two_stage_proposals: DINO's top-k encoder proposals, as its own pre_decoder picks them."""
import pytest
import torch

from mmdet.registry import MODELS
from mmka.models.layers import encode, two_stage_proposals

from ..detectors.dino_setup import batch, tiny_dino_cfg
from ..detectors.test_ka_multiscale_student import PLAIN


@pytest.mark.parametrize('student_type', ['DINOAnyDim', 'KADINOStudent'])
def test_proposals_equal_the_encoder_outputs_of_the_training_forward(student_type):
    """The same scores and boxes mmdet's training pre_decoder gives its encoder loss (a KA
    student: one segment per position), and boxes equal to the decoder's references."""
    extra = dict(num_teachers=2) if student_type == 'KADINOStudent' else {}
    detector = MODELS.build(dict(tiny_dino_cfg(32), type=student_type, **extra))
    detector.init_weights()
    detector.train()
    imgs, samples = batch(padded=True)
    decoder_inputs, head_inputs = encode(detector, imgs, samples)
    logits, boxes = two_stage_proposals(detector, decoder_inputs['memory'],
                                        decoder_inputs['memory_mask'],
                                        decoder_inputs['spatial_shapes'])
    assert logits.shape == (2, detector.num_queries, 4) and boxes.shape[-1] == 4
    torch.testing.assert_close(logits, head_inputs['enc_outputs_class'])
    torch.testing.assert_close(boxes, head_inputs['enc_outputs_coord'])
    # The training references put the denoising queries first.
    torch.testing.assert_close(boxes.detach(),
                               decoder_inputs['reference_points'][:, -detector.num_queries:])
    assert boxes.requires_grad  # the encoder loss without ground truth trains the branches


def test_other_detectors_are_refused():
    detector = MODELS.build(dict(PLAIN['deformable'][0](), type='KADeformableDETRStudent',
                                 num_teachers=2))
    with pytest.raises(TypeError, match='KADeformableDETRStudent'):
        two_stage_proposals(detector, torch.zeros(1, 4, 32), None, torch.tensor([[2, 2]]))
