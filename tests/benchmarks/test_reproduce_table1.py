"""benchmarks/reproduce_table1.py at its quick size: a well-formed table and picture, caching."""
import importlib.util
import os.path as osp
import sys

import pytest

from mmka.utils import mmka_commit

from ..conftest import REPO

BENCH = osp.join(REPO, 'benchmarks')


def load(name):
    sys.path.insert(0, BENCH)
    spec = importlib.util.spec_from_file_location(name, osp.join(BENCH, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(ap, **extra):
    metrics = {f'coco/{k}': ap for k in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75')}
    return dict(metrics=metrics, **extra)


def test_findings_follow_the_numbers():
    report = load('table1_report')
    rows = {'Raw': [record(0.30)], 'Student': [record(0.35)], 'Ensemble': [record(0.40)],
            'SAG': [record(0.28)], 'Student_slim': [record(0.347)],
            'slim, student guide': [record(0.33)]}
    lines = '\n'.join(report.findings(rows))
    assert 'Student > Raw (paper: +5.0 AP on VOC): holds (35.0 vs 30.0, +5.0 AP)' in lines
    assert 'Student >= Ensemble: **does not hold** (35.0 vs 40.0, -5.0 AP)' in lines
    assert 'SAG <= Raw: holds' in lines and 'SA > SAG (Student vs SAG + TA): holds' in lines
    assert 'Student_slim within 0.5 AP of Student: holds (34.7 vs 35.0, -0.3 AP)' in lines
    assert 'Student_slim > Raw (paper Table IV: +3.2 AP): holds (34.7 vs 30.0, +4.7' in lines
    assert 'Student_slim > Ensemble (paper Table IV: +3.1 AP): **does not hold**' in lines
    assert 'redundancy > isometric > random compression: not run' in lines
    assert ('P_slim on X_S in training too >= on X_T (mmka option, no paper claim): '
            '**does not hold** (33.0 vs 34.7, -1.7 AP)') in lines
    assert report.mean_std([0.3, 0.5]) == '40.0 ± 14.1'


def test_rows_from_other_commits_are_named():
    report = load('table1_report')
    rows = {'Raw': [dict(mmka='abc1234'), dict(mmka='def5678')], 'Student': [dict(mmka='now')],
            'SAG': [dict(mmka='now'), dict()]}
    assert report.other_commits(rows, 'now') == ['`Raw` (abc1234, def5678)', '`SAG` (unknown)']
    assert report.other_commits({'Raw': [dict(mmka='now')]}, 'now') == []


def test_quick_run_writes_table_and_curves_and_reuses_models(tmp_path, capsys):
    bench = load('reproduce_table1')
    out = tmp_path / 'table1.md'
    args = ['--size', 'quick', '--only', 'Raw', 'Student', '--work-dir', str(tmp_path / 'work'),
            '--data-root', str(tmp_path / 'data'), '--out', str(out)]
    rows = bench.main(args)
    assert list(rows) == ['Teacher_1', 'Teacher_2', 'Ensemble', 'Raw', 'Student']
    text = out.read_text()
    for row in rows:
        assert f'| {row} |' in text
    assert '| model | AP | AP50 | AP75 | AP50 T1 | AP50 T2 | #params (M) | FLOPs (G) |' in text
    assert 'Student > Raw' in text and 'not run (needs `Student_slim`' in text
    assert f'Provenance: mmka {mmka_commit()}; seed 0; teachers ' in text
    student = rows['Student'][0]
    assert student['params'] > rows['Raw'][0]['params']  # one more input projection
    assert student['curve'] and student['curve'][-1][0] == 1  # validated at epoch 1
    assert student['train_seconds'] > 0
    png = (tmp_path / 'table1_curves.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000
    capsys.readouterr()
    # Rerun with a second seed: only the new runs train, the rest is read from the cache.
    rows = bench.main(['--size', 'quick', '--only', 'Raw', '--seeds', '0', '1'] + args[5:])
    log = capsys.readouterr().out
    assert log.count('[table1] training') == 1 and 'training raw-seed1' in log
    assert len(rows['Raw']) == 2 and 'Student' not in rows
    assert '±' in out.read_text()
    # --only without names: the teachers and the Ensemble (here all cached).
    rows = bench.main(['--size', 'quick', '--only'] + args[5:])
    assert list(rows) == ['Teacher_1', 'Teacher_2', 'Ensemble']
    assert '[table1] training' not in capsys.readouterr().out
    text = out.read_text()
    assert 'Student > Raw (paper: +5.0 AP on VOC): not run' in text
    assert f'Provenance: mmka {mmka_commit()}; seed 0; teachers float32.' in text
    assert all(r['mmka'] != 'unknown' for records in rows.values() for r in records)


def test_evaluation_cache_is_keyed_by_partitions(tmp_path):
    """Raw is one model for 2 and 4 teachers; its scores per partition must not mix."""
    bench = load('reproduce_table1')
    two = {'T1': ('circle', 'square'), 'T2': ('ring', 'star')}
    four = {'T1': ('circle', ), 'T2': ('square', ), 'T3': ('ring', ), 'T4': ('star', )}
    paths = [bench.result_path(str(tmp_path), p) for p in (two, four, dict(two))]
    assert paths[0] != paths[1] and paths[0] == paths[2]
    assert all(osp.dirname(p) == str(tmp_path) and p.endswith('.json') for p in paths)


def test_bad_names_are_refused():
    bench = load('reproduce_table1')
    with pytest.raises(SystemExit):
        bench.parse_args(['--only', 'Studnet'])
