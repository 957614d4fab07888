"""benchmarks/kd_detr.py: the compared configs and the report (no training here)."""
from mmka.utils import last_checkpoint, mmka_commit

from .test_reproduce_table1 import load, record


def test_students_differ_only_by_distillation(tmp_path):
    bench = load('kd_detr')
    args = bench.parse_args(['--family', 'dab_detr', '--size', 'medium', '--work-dir',
                             str(tmp_path), '--data-root', str(tmp_path / 'data')])
    teacher, plain, kd = bench.configs(args)
    assert teacher.model.type == 'DABDETR' and teacher.train_cfg.max_epochs == 12
    assert kd.model.type == 'KDDETRDistiller'
    assert kd.model.teacher.checkpoint == last_checkpoint(teacher)
    assert plain.model == kd.model.student and plain.model.type == 'DABDETR'
    assert plain.model.encoder.num_layers < teacher.model.encoder.num_layers
    for key in ('train_cfg', 'param_scheduler', 'optim_wrapper', 'train_dataloader',
                'randomness'):
        assert plain[key] == kd[key], key
    assert len({teacher.work_dir, plain.work_dir, kd.work_dir}) == 3
    assert plain.train_dataloader.dataset.data_root == str(tmp_path / 'data') + '/'


def test_report_states_gain_and_step_ratio(tmp_path):
    bench = load('kd_detr')
    args = bench.parse_args(['--size', 'quick', '--out', str(tmp_path / 'kd.md')])
    cost = dict(params=1.5e6, flops=0.08e9, train_seconds=120.0)
    results = {'Teacher': record(0.40, **cost),
               'Student, ground truth only': record(0.20, **cost),
               'Student, KD-DETR': record(0.25, **dict(cost, train_seconds=None))}
    bench.write_report(args, bench.SIZES['quick'], results, dict(plain=0.2, kd=0.3), 1.0,
                       {'Student, KD-DETR': 'bfloat16'})
    text = (tmp_path / 'kd.md').read_text()
    assert f'Provenance: mmka {mmka_commit()}; seed 0; teachers bfloat16.' in text
    # Records without a commit were cached before commits were recorded.
    assert 'Evaluated by other commits (cached): `Teacher` (unknown), ' in text
    assert '| Student, KD-DETR | 25.0 | 25.0 | 25.0 | 1.500 M | 0.080 G | - |' in text
    assert '| Teacher | 40.0 | 40.0 | 40.0 | 1.500 M | 0.080 G | 2.0 |' in text
    assert '**+5.0 AP**' in text and 'KD / plain: **1.50**' in text
