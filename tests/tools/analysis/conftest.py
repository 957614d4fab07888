"""Tiny teachers, students and configs on disk for the analysis-tool tests."""
import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from ...conftest import REPO
from ...models.amalgamators.tiny_setup import T1, T2, save_teacher, student_cfg
from mmka.utils import set_data_root

KA_2T = f'{REPO}/configs/ka/shapes_2t.py'


def save_student(path, compression=None, prefix: str = 'student.', seed: int = 0) -> str:
    """A randomly initialised tiny KA student saved as an amalgamation checkpoint
    (``student.*`` keys) or, with ``prefix=''``, as a standalone one."""
    torch.manual_seed(seed)
    model = MODELS.build(student_cfg(compression=compression))
    model.init_weights()
    state = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state, meta=dict()), str(path))
    return str(path)


def write_ka_config(path, shapes_root: str, teachers, compression=None) -> str:
    """configs/ka/shapes_2t.py with the tiny student and teachers, on the tiny data."""
    cfg = set_data_root(Config.fromfile(KA_2T), shapes_root)
    cfg.model.student = student_cfg(compression=compression)
    cfg.model.teachers = teachers
    cfg.dump(str(path))
    return str(path)


@pytest.fixture(scope='package')
def tiny_ka(shapes_root, tmp_path_factory):
    """Paths of a tiny 2-teacher amalgamation: configs (plain and slim) and checkpoints."""
    root = tmp_path_factory.mktemp('analysis')
    teachers = [save_teacher(root / 't1.pth', T1, seed=1),
                save_teacher(root / 't2.pth', T2, seed=2)]
    slim = dict(strategy='redundancy')
    return dict(
        root=root, teachers=teachers,
        config=write_ka_config(root / 'ka.py', shapes_root, teachers),
        checkpoint=save_student(root / 'ka.pth'),
        slim_config=write_ka_config(root / 'ka_slim.py', shapes_root, teachers, slim),
        slim_checkpoint=save_student(root / 'ka_slim.pth', slim, seed=3))


def assert_png(path, min_bytes: int = 5000) -> None:
    """``path`` is a PNG file of non-trivial size."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
    assert len(data) > min_bytes, f'{path} has only {len(data)} bytes'
