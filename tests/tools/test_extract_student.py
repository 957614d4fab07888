"""extract_student: the standalone student is the distiller's, weight by weight and output by
output (KA amalgamator and KD-DETR distiller)."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu

from mmdet.apis import init_detector
from mmdet.registry import MODELS

from ..conftest import load_tool
from ..models.amalgamators.tiny_setup import CLASSES
from .test_amalgamation_e2e import ka_cfg, tiny_teachers  # noqa: F401 (fixture)
from .test_kd_detr_e2e import kd_cfg, kd_teachers  # noqa: F401 (fixture)

PREFIX = 'student.'


@pytest.fixture(scope='module', params=['ka', 'kd'])
def extracted(request, shapes_root, tmp_path_factory):
    """(config, distiller, student checkpoint, student config) of a KADETRAmalgamator
    (configs/ka/shapes_2t.py) or a KDDETRDistiller (configs/kd/shapes_conditional-detr.py)
    with tiny models: the distiller's student moved off its initial weights, saved as the
    Runner saves it, then extracted."""
    root = tmp_path_factory.mktemp(f'extract_{request.param}')
    if request.param == 'ka':
        cfg = ka_cfg(shapes_root, root / 'work', request.getfixturevalue('tiny_teachers'))
    else:
        teacher = request.getfixturevalue('kd_teachers')['conditional_detr']
        cfg = kd_cfg('conditional_detr', shapes_root, root / 'work', teacher)
    model = build_trained_distiller(cfg)
    return (cfg, model, *save_and_extract(cfg, model, root))


def build_trained_distiller(cfg: Config, seed: int = 0):
    """The distiller with every student weight and buffer moved off its initial value."""
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.student.state_dict().values():  # shares storage with the model
            if tensor.is_floating_point():  # positive: BatchNorm variances stay positive
                tensor.add_(torch.rand(tensor.shape, generator=g) * 0.1)
    return model


def save_and_extract(cfg: Config, model, tmp_path):
    """Save ``model`` as the Runner does, extract its student; (checkpoint, config) paths."""
    cfg_file = str(tmp_path / 'distill_cfg.py')
    cfg.dump(cfg_file)
    ckpt = str(tmp_path / 'epoch_1.pth')
    meta = dict(epoch=1, iter=2, dataset_meta=dict(classes=CLASSES))
    save_checkpoint(dict(meta=meta, state_dict=weights_to_cpu(model.state_dict())), ckpt)
    extract = load_tool('model_converters/extract_student')
    return extract.extract(cfg_file, ckpt, str(tmp_path / 'student'))


def head_outputs(model, data):
    """(L, B, m, K) logits and (L, B, m, 4) boxes of every decoder layer, in eval mode."""
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(copy.deepcopy(data), False)
        logits, boxes = model(batch['inputs'], batch['data_samples'], mode='tensor')
    return batch['inputs'], logits, boxes


def test_extracted_weights_are_the_students_key_by_key(extracted):
    _, model, student_ckpt, _ = extracted
    checkpoint = torch.load(student_ckpt, map_location='cpu')
    assert checkpoint['meta']['dataset_meta'] == dict(classes=CLASSES)
    weights = checkpoint['state_dict']
    expected = {k[len(PREFIX):]: v for k, v in model.state_dict().items()
                if k.startswith(PREFIX)}
    assert set(expected) == set(model.student.state_dict())  # nothing but the student
    assert set(weights) == set(expected)
    for key, value in expected.items():
        assert torch.equal(weights[key], value), key


def test_extracted_student_reproduces_raw_head_outputs(extracted):
    cfg, model, student_ckpt, student_cfg = extracted
    data = next(iter(Runner.build_dataloader(cfg.val_dataloader)))
    inputs, logits, boxes = head_outputs(model, data)
    num_layers = len(model.student.decoder.layers)
    assert logits.shape[:3] == boxes.shape[:3] == (num_layers, len(inputs), 8)

    def assert_same_outputs(loaded):
        got_inputs, got_logits, got_boxes = head_outputs(loaded, data)
        torch.testing.assert_close(got_inputs, inputs, rtol=0, atol=0)
        torch.testing.assert_close(got_logits, logits, rtol=0, atol=0)
        torch.testing.assert_close(got_boxes, boxes, rtol=0, atol=0)

    standalone = init_detector(student_cfg, student_ckpt, device='cpu')  # loads non-strictly
    assert standalone.dataset_meta['classes'] == CLASSES
    assert_same_outputs(standalone)
    strict = MODELS.build(Config.fromfile(student_cfg).model)
    untrained = head_outputs(strict, data)[1]
    assert not torch.allclose(untrained, logits)  # the comparison sees the weights
    load_checkpoint(strict, student_ckpt, map_location='cpu', strict=True)
    assert_same_outputs(strict)
