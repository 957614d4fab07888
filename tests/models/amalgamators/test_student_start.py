"""``student_checkpoint``: a distiller's student starting from a plain detector's weights
(the paper's Student_UP, a student fine-tuned from the teachers' pre-training)."""
import pytest
import torch

from mmdet.registry import MODELS
from mmka.models.amalgamators import load_student_start

from ..detectors.dino_setup import save_dino_teacher, tiny_dino_cfg
from .tiny_setup import CLASSES, T1, T2, save_teacher

DIMS = 32


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('student_start')
    teachers = [save_dino_teacher(root / 't1.pth', T1, 1),
                save_dino_teacher(root / 't2.pth', T2, 2)]
    # A class-agnostic pre-training: the plain DINO with one class.
    pretraining = save_dino_teacher(root / 'pretrain.pth', ('shape', ), 3)
    return teachers, pretraining['checkpoint']


def amalgamator(teachers, **kwargs):
    student = dict(tiny_dino_cfg(DIMS, num_classes=len(CLASSES)), type='KADINOStudent',
                   num_teachers=2)
    return MODELS.build(dict(type='KADETRAmalgamator', student=student, teachers=teachers,
                             classes=CLASSES, hooks=[dict(type='SequenceAmalgamation')],
                             **kwargs))


def test_student_starts_from_a_plain_one_class_checkpoint(checkpoints):
    """Backbone, both segments' projections, encoder and decoder come from the plain
    checkpoint (levels tiled for the 2·L-level cross-attention); the 20-class classifiers,
    which do not fit the 1-class ones, keep their initialisation."""
    teachers, pretraining = checkpoints
    plain = torch.load(pretraining, map_location='cpu')['state_dict']
    torch.manual_seed(0)
    model = amalgamator(teachers, student_checkpoint=pretraining)
    model.init_weights()
    state = model.student.state_dict()
    for key in ('backbone.conv1.weight', 'encoder.layers.0.self_attn.sampling_offsets.weight',
                'bbox_head.reg_branches.0.0.weight', 'query_embedding.weight'):
        assert torch.equal(state[key], plain[key]), key
    for t in range(2):
        assert torch.equal(state[f'neck.{t}.convs.0.conv.weight'],
                           plain['neck.convs.0.conv.weight'])
    # The 2·L-level cross-attention: per head, the plain L levels once per segment.
    offsets = 'decoder.layers.0.cross_attn.sampling_offsets.weight'
    heads = model.student.decoder.layers[0].cross_attn.num_heads
    per_head = plain[offsets].view(heads, 1, -1, DIMS)  # (heads, 1, L·points·2, dims)
    assert torch.equal(state[offsets].view(heads, 2, -1, DIMS), per_head.expand(-1, 2, -1, -1))
    cls = 'bbox_head.cls_branches.0.weight'
    assert state[cls].shape[0] == len(CLASSES) != plain[cls].shape[0]

    torch.manual_seed(0)
    scratch = amalgamator(teachers)
    scratch.init_weights()
    assert torch.equal(scratch.student.state_dict()[cls], state[cls])  # initialised alike
    assert not torch.equal(scratch.student.state_dict()['backbone.conv1.weight'],
                           state['backbone.conv1.weight'])
    assert scratch.student_checkpoint is None


def test_teachers_keep_their_own_weights(checkpoints):
    teachers, pretraining = checkpoints
    model = amalgamator(teachers, student_checkpoint=pretraining)
    model.init_weights()
    own = torch.load(teachers[0]['checkpoint'], map_location='cpu')['state_dict']
    for key, value in model.teacher_list[0].state_dict().items():
        assert torch.equal(value, own[key]), key


def test_a_checkpoint_that_fits_nowhere_is_an_error(checkpoints, tmp_path):
    """A Conditional DETR of another width into a DINO student: a few backbone tensors
    would load, nothing else."""
    teachers, _ = checkpoints
    other = save_teacher(tmp_path / 'cond.pth', T1, 0, embed_dims=16)['checkpoint']
    model = amalgamator(teachers, student_checkpoint=other)
    with pytest.raises(ValueError, match='Only 3 of the'):
        model.init_weights()


def test_a_missing_checkpoint_is_named(checkpoints, tmp_path):
    teachers, _ = checkpoints
    missing = str(tmp_path / 'nope.pth')
    model = amalgamator(teachers, student_checkpoint=missing)  # building needs no file
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        model.init_weights()
    with pytest.raises(FileNotFoundError, match='student_checkpoint'):
        load_student_start(model.student, missing)
