"""benchmarks/reproduce_table1.py at its quick size: a well-formed table and picture, caching."""
import importlib.util
import os
import os.path as osp
import re
import sys

import pytest

import mmka.utils.config_utils as config_utils
from mmka.utils import mmka_commit

from ..conftest import REPO

BENCH = osp.join(REPO, 'benchmarks')


def load(name):
    sys.path.insert(0, BENCH)
    spec = importlib.util.spec_from_file_location(name, osp.join(BENCH, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_rows():
    """``table1_rows`` as ``reproduce_table1`` imports it (one module: a patch reaches both)."""
    load('reproduce_table1')
    return importlib.import_module('table1_rows')


def record(ap, **extra):
    metrics = {f'coco/{k}': ap for k in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75')}
    return dict(metrics=metrics, **extra)


def test_findings_follow_the_numbers():
    report = load('table1_report')
    rows = {'Raw': [record(0.30)], 'Student': [record(0.35)], 'Ensemble': [record(0.40)],
            'SAG': [record(0.28)], 'Student_slim': [record(0.347)],
            'slim, student guide': [record(0.33)], 'SA only': [record(0.36)]}
    lines = '\n'.join(report.findings(rows))
    # One seed per row: plain comparisons, marked as such.
    assert ('Student > Raw (paper: +5.0 AP on VOC): holds (35.0 vs 30.0, +5.0 AP; one seed, '
            'spread not measured)') in lines
    assert 'Student >= Ensemble: **does not hold** (35.0 vs 40.0, -5.0 AP;' in lines
    assert ('Student > Raw_ext, the Student\'s network on ground truth only (paper: +6.45 AP '
            'on VOC): not run (needs `Student`, `Raw_ext`)') in lines
    assert 'Raw >= SAG (paper: SAG no better than Raw): holds' in lines
    # Table V's decomposition: SA only beats Raw but also the Student; TA only not run.
    assert 'SA only > Raw (paper Table V: +3.03 AP): holds (36.0 vs 30.0, +6.0 AP;' in lines
    assert 'SA + TA > SA only (paper Table V: +1.97 AP): **does not hold** (35.0 vs 36.0' \
        in lines
    assert 'TA only > Raw (paper Table V: +2.75 AP): not run (needs `TA only`, `Raw`)' in lines
    assert 'SA > SAG (Student vs SAG + TA): holds' in lines
    assert 'Student_slim within 0.5 AP of Student: holds (34.7 vs 35.0, -0.3 AP;' in lines
    assert 'Student_slim > Raw (paper Table IV: +3.2 AP): holds (34.7 vs 30.0, +4.7' in lines
    assert 'Student_slim > Ensemble (paper Table IV: +3.1 AP): **does not hold**' in lines
    assert 'redundancy > isometric > random compression: not run' in lines
    assert ('P_slim on X_S in training too >= on X_T (mmka option, no paper claim): '
            '**does not hold** (33.0 vs 34.7, -1.7 AP;') in lines
    assert report.mean_std([0.3, 0.5]) == '40.0 ± 14.1'


def test_seeds_that_agree_by_chance_do_not_make_a_difference_real():
    """Two Student_slim seeds at the same AP (std 0) against the seedless Ensemble: the
    spread is the pooled one of the seeded rows, not 0."""
    report = load('table1_report')
    rows = {'Raw': [record(v) for v in (0.774, 0.778)],
            'Student': [record(v) for v in (0.777, 0.784)],
            'Student_slim': [record(0.757), record(0.757)], 'Ensemble': [record(0.752)]}
    spread = report.seed_spread(rows)
    pooled = ((0.4 ** 2 / 2 + 0.7 ** 2 / 2) / 3) ** 0.5
    assert spread['Student_slim'] == pytest.approx(pooled)
    assert spread['Student'] == pytest.approx(0.7 / 2 ** 0.5)  # its own, above the pooled
    lines = '\n'.join(report.findings(rows))
    assert 'Student_slim > Ensemble (paper Table IV: +3.1 AP): within noise (75.7 vs 75.2, ' \
        '+0.5 AP; 2 sd = 0.7)' in lines


def test_findings_count_differences_only_outside_the_seed_spread():
    report = load('table1_report')
    # Raw: sd 1.0 AP over 3 seeds; Student: sd 0.5, raised to the pooled sd
    # sqrt((1.0² + 0.5²) / 2) = 0.79; the one-seed rows take the larger, 1.0.
    rows = {'Raw': [record(v) for v in (0.30, 0.31, 0.32)],
            'Student': [record(v) for v in (0.325, 0.33, 0.335)],
            'Ensemble': [record(0.28)], 'Student_slim': [record(0.35)],
            'slim isometric': [record(0.34)], 'slim random': [record(0.20)],
            'SA+TA label-free': [record(0.31)], 'SAG': [record(0.36)]}
    spread = report.seed_spread(rows)
    assert spread['Raw'] == pytest.approx(1.0)
    assert spread['Student'] == pytest.approx((1.25 / 2) ** 0.5)
    assert spread['Student_slim'] == pytest.approx(1.0) and spread['Ensemble'] == 0
    lines = '\n'.join(report.findings(rows))
    # +2.0 AP with 2 sd = 2.0: not outside the spread.
    assert 'Student > Raw (paper: +5.0 AP on VOC): within noise (33.0 vs 31.0, +2.0 AP; ' \
        '2 sd = 2.0)' in lines
    # The Ensemble has no spread of its own: 2 x the Student's (pooled) one.
    assert 'Student >= Ensemble: holds (33.0 vs 28.0, +5.0 AP; 2 sd = 1.6)' in lines
    # Raw_ext, one seed, takes the largest spread (Raw's 1.0): +1.5 is within 2 sd = 2.0.
    with_ext = '\n'.join(report.findings(dict(rows, Raw_ext=[record(0.315)])))
    assert 'only (paper: +6.45 AP on VOC): within noise (33.0 vs 31.5, +1.5 AP; 2 sd = 2.0)' \
        in with_ext
    assert 'SA > SAG (Student vs SAG + TA): **does not hold** (33.0 vs 36.0' in lines
    # Within 0.5 AP: 2.0 apart, but 2.0 <= 0.5 + 2 sd.
    assert 'Student_slim within 0.5 AP of Student: within noise (35.0 vs 33.0, +2.0' in lines
    # 35 > 34 is within noise, 34 > 20 holds: the chain is within noise.
    assert 'redundancy > isometric > random compression: within noise (35.0 / 34.0 / 20.0 ' \
        'AP; 2 sd = 2.0)' in lines
    assert 'label-free (SA+TA) within 1.4 AP of labelled (paper: -1.40): ' \
        '**does not hold** (31.0 vs 33.0, -2.0' not in lines  # 2.0 <= 1.4 + 2 sd
    assert 'label-free (SA+TA) within 1.4 AP of labelled (paper: -1.40): within noise' in lines
    rows['slim isometric'] = [record(0.38)]
    assert 'compression: **does not hold** (35.0 / 38.0 / 20.0' in \
        '\n'.join(report.findings(rows))


def test_rows_from_other_commits_are_named():
    report = load('table1_report')
    rows = {'Raw': [dict(mmka='abc1234'), dict(mmka='def5678')], 'Student': [dict(mmka='now')],
            'SAG': [dict(mmka='now'), dict()]}
    assert report.other_commits(rows, 'now') == ['`Raw` (abc1234, def5678)', '`SAG` (unknown)']
    assert report.other_commits({'Raw': [dict(mmka='now')]}, 'now') == []


def test_rows_measured_on_other_machines_are_named():
    """Committed records bring rows measured elsewhere into a report: it says where."""
    report = load('table1_report')
    rows = {'Raw': [dict(machine='here', date='d1'), dict(machine='AMD', date='d2')],
            'Student': [dict(machine='here')], 'SAG': [dict()]}  # SAG: before the field
    assert report.other_machines(rows, 'here') == ['`Raw` (AMD, d2)']
    lines = report.provenance_of_cache(rows, 'now', 'here')
    assert lines[-1] == 'Measured on other machines (committed records): `Raw` (AMD, d2).  '
    assert report.other_machines(rows, 'AMD') == ['`Raw` (here, d1)', '`Student` (here, undated)']


def test_ka_rows_under_teachers_trained_again_elsewhere_are_named():
    """A KA row from another machine than the teachers' records learned from teachers
    trained again there: the report says so; Raw rows need no teachers."""
    report = load('table1_report')
    rows = {'Teacher_1': [dict(machine='AMD')], 'Ensemble': [dict(machine='AMD')],
            'Raw': [dict(machine='Intel')], 'Raw_ext': [dict(machine='Intel')],
            'Student': [dict(machine='AMD'), dict(machine='AMD')],
            'slim random': [dict(machine='Intel')], 'SAG': [dict()]}
    assert report.under_teachers_trained_again(rows) == ['`slim random` (Intel)']
    line = report.provenance_of_cache(rows, 'now', 'AMD')[-1]
    assert line.startswith('Trained under the teachers trained again') and \
        line.endswith(': `slim random` (Intel).  ')
    rows['Teacher_1'].append(dict(machine='Intel'))
    assert report.under_teachers_trained_again(rows) == []


def test_ka_rows_under_other_teacher_weights_are_named_on_the_same_machine():
    """A record naming its teachers' weights counts by them, not by machine: a KA row
    trained under the same configs trained again on a machine of the same name is named (with
    its date), one under the recorded weights is not; teachers' records without weights
    (older) match none."""
    report = load('table1_report')
    rows = {'Teacher_1': [dict(machine='AMD', teachers={'t1': 'aaa'})],
            'Teacher_2': [dict(machine='AMD', teachers={'t2': 'bbb'})],
            'Ensemble': [dict(machine='AMD')],
            'Student': [dict(machine='AMD', date='d1', teachers={'t1': 'aaa', 't2': 'bbb'}),
                        dict(machine='AMD', date='d2', teachers={'t1': 'aaa', 't2': 'ccc'})],
            'SAG': [dict(machine='AMD', date='d1', teachers={'t1': 'aaa', 't2': 'bbb'})],
            'Raw': [dict(machine='AMD', teachers={'t1': 'xxx'})]}
    assert report.under_teachers_trained_again(rows) == ['`Student` (AMD, d2)']
    line = report.provenance_of_cache(rows, 'now', 'AMD')[-1]
    assert line.startswith('Trained under the teachers trained again, not the weights') and \
        line.endswith(': `Student` (AMD, d2).  ')
    for name in ('Teacher_1', 'Teacher_2'):
        del rows[name][0]['teachers']
    assert report.under_teachers_trained_again(rows) == ['`Student` (AMD, d1; AMD, d2)',
                                                         '`SAG` (AMD, d1)']


def test_an_evaluation_names_the_weights_of_its_teachers(tmp_path):
    """``teacher_weights``: each teacher's work dir name and its checkpoint's fingerprint;
    none for a model without teachers."""
    import torch
    from mmengine.config import Config
    bench = load('reproduce_table1')
    checkpoints = []
    for i in (1, 2):
        (tmp_path / f'teacher{i}-key').mkdir()
        checkpoints.append(str(tmp_path / f'teacher{i}-key' / 'epoch_24.pth'))
        torch.save(dict(state_dict={'w': torch.full((2, ), float(i))}), checkpoints[-1])
    cfg = Config(dict(model=dict(type='KADETRAmalgamator', teachers=[
        dict(config='t.py', checkpoint=c) for c in checkpoints])))
    weights = bench.teacher_weights(cfg)
    assert list(weights) == ['teacher1-key', 'teacher2-key']
    assert weights['teacher1-key'] == bench.records.weights_fingerprint(checkpoints[0]) != \
        weights['teacher2-key']
    assert bench.teacher_weights(Config(dict(model=dict(type='DINO')))) == {}


def test_report_only_says_it_trains_nothing():
    report = load('table1_report')
    assert report.trained_at_once(type('A', (), dict(report_only=True, jobs=None))) == \
        'this invocation trains none (--report-only)'
    assert report.trained_at_once(type('A', (), dict(report_only=False, jobs=2))) == \
        'this invocation trains 2 at once'


def test_quick_run_writes_table_and_curves_and_reuses_models(tmp_path, capsys):
    bench = load('reproduce_table1')
    out = tmp_path / 'table1.md'
    args = ['--size', 'quick', '--only', 'Raw', 'Student', '--work-dir', str(tmp_path / 'work'),
            '--data-root', str(tmp_path / 'data'), '--out', str(out),
            '--records', str(tmp_path / 'records')]
    rows = bench.main(args)
    assert list(rows) == ['Teacher_1', 'Teacher_2', 'Ensemble', 'Raw', 'Student']
    text = out.read_text()
    for row in rows:
        assert f'| {row} |' in text
    assert ('| model | seeds | AP | AP50 | AP75 | AP50 T1 | AP50 T2 | #params (M) | FLOPs (G) |'
            in text)
    assert '| Ensemble | — |' in text and '| Raw | 1 |' in text
    assert '| model | AP T1 | AP T2 |' in text  # the teachers' head room
    assert 'Student > Raw' in text and 'not run (needs `Student_slim`' in text
    assert f'Provenance: mmka {mmka_commit()}; seed 0; teachers ' in text
    student = rows['Student'][0]
    assert student['params'] > rows['Raw'][0]['params']  # one more input projection
    assert student['curve'] and student['curve'][-1][0] == 1  # validated at epoch 1
    assert student['train_seconds'] > 0
    # Trained runs checkpoint at every validation (a row outlives a session; resuming is
    # tested with `resumable`); that is set after keying, so the work dir keeps the key of
    # the config as scheduled. This one started afresh.
    job = (tmp_path / 'work').glob('student-seed0-*/job_config.py')
    job = bench.Config.fromfile(str(next(job)))
    assert job.resume is False
    assert job.default_hooks.checkpoint.interval == job.train_cfg.val_interval
    png = (tmp_path / 'table1_curves.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000
    capsys.readouterr()
    # Rerun with a second seed: only the new runs train, the rest is read from the cache.
    rows = bench.main(['--size', 'quick', '--only', 'Raw', '--seeds', '0', '1'] + args[5:])
    log = capsys.readouterr().out
    assert log.count('[table1] training') == 1 and 'training raw-seed1' in log
    assert len(rows['Raw']) == 2 and 'Student' not in rows
    assert '±' in out.read_text() and '| Raw | 2 |' in out.read_text()
    # A later seed alone trains that seed under the same teachers (--teacher-seed 0).
    bench.main(['--size', 'quick', '--only', 'Raw', '--seeds', '1'] + args[5:])
    assert '[table1] training' not in capsys.readouterr().out
    assert 'seeds [1] (the teachers: seed 0)' in out.read_text()
    # --report-only: one table of what exists (Raw seeds 0, 1; Student seed 0), nothing
    # trained, the rest named.
    rows = bench.main(['--size', 'quick', '--only', 'Raw', 'Student', '--seeds', '0', '1', '2',
                       '--report-only'] + args[5:])
    assert '[table1] training' not in capsys.readouterr().out
    assert len(rows['Raw']) == 2 and len(rows['Student']) == 1
    text = out.read_text()
    assert '| Raw | 2 |' in text and '| Student | 1 |' in text
    assert 'Not trained yet, so not in the table: `Raw` (seed 2), `Student` (seeds 1, 2).' \
        in text
    # --train-only: Raw's seed 2 trains and is evaluated into its record; the table stays as
    # it was.
    assert bench.main(['--size', 'quick', '--only', 'Raw', '--seeds', '2', '--train-only']
                      + args[5:]) is None
    log = capsys.readouterr().out
    assert log.count('[table1] training') == 1 and 'training raw-seed2' in log
    assert 'evaluating Raw (seed 2)' in log and out.read_text() == text
    assert list((tmp_path / 'records').glob('raw-seed2-*/result-*.json'))
    with pytest.raises(SystemExit):  # the two flags contradict each other
        bench.parse_args(['--report-only', '--train-only'])
    # --only without names: the teachers and the Ensemble (here all cached).
    rows = bench.main(['--size', 'quick', '--only'] + args[5:])
    assert list(rows) == ['Teacher_1', 'Teacher_2', 'Ensemble']
    assert '[table1] training' not in capsys.readouterr().out
    text = out.read_text()
    assert 'Student > Raw (paper: +5.0 AP on VOC): not run' in text
    assert f'Provenance: mmka {mmka_commit()}; seed 0; teachers float32.' in text
    assert all(r['mmka'] != 'unknown' for records in rows.values() for r in records)
    # --compute-matched: only the new row trains (Raw for E_cm epochs), under its own key.
    rows = bench.main(['--size', 'quick', '--only', '--compute-matched'] + args[5:])
    log = capsys.readouterr().out
    assert list(rows) == ['Teacher_1', 'Teacher_2', 'Ensemble', 'Raw, compute-matched']
    assert log.count('[table1] training') == 1 and 'training raw--compute-matched-seed0-' in log
    epochs = int(log.split('trains E_cm = ')[1].split()[0])
    assert epochs > 1 and rows['Raw, compute-matched'][0]['curve'][-1][0] == epochs
    text = out.read_text()
    assert '| Raw, compute-matched |' in text and f'E_cm = {epochs} epochs' in text
    assert f'every student 1 (`Raw, compute-matched`: {epochs}) epochs' in text
    assert '- Teacher_2: 3 x ' in text and 'is not credited' in text
    assert 'Student > Raw at the compute of teachers + Student (no paper claim; users ask): ' \
        'not run (needs `Student`' in text
    bench.main(['--size', 'quick', '--only', '--compute-matched'] + args[5:])
    assert '[table1] training' not in capsys.readouterr().out  # cached, as every row
    # Another machine: the work dirs are gone, the committed records are not. The report is
    # written again from them alone, and a row with a record is not trained again (Raw
    # needs no teachers, and theirs and the Ensemble's evaluations are recorded too).
    before = bench.main(['--size', 'quick', '--only', 'Raw', 'Student', '--seeds', '0', '1',
                         '--report-only'] + args[5:])
    for lost in [*(tmp_path / 'work').glob('*/*.pth'), *(tmp_path / 'work').glob('*/result-*')]:
        lost.unlink()  # the checkpoints and cached evaluations (folders kept: mmengine's
        # visualizer of an earlier Runner in this process may still write into one)
    capsys.readouterr()
    after = bench.main(['--size', 'quick', '--only', 'Raw', 'Student', '--seeds', '0', '1',
                        '--report-only'] + args[5:])
    assert after == before and '| Raw | 2 |' in out.read_text()
    assert bench.main(['--size', 'quick', '--only', 'Raw', '--seeds', '0'] + args[5:])
    assert '[table1] training' not in capsys.readouterr().out
    recorded = sorted(p.name for p in (tmp_path / 'records').iterdir())
    assert any(name.startswith('raw-seed1-') for name in recorded), recorded
    assert all(p.suffix == '.json' for p in (tmp_path / 'records').glob('*/*'))


def test_keys_do_not_depend_on_where_the_repository_is(tmp_path, monkeypatch):
    """A committed record must find its model in any checkout: here the same script run from
    a second path to the repository, with its data and work dirs under that path."""
    os.symlink(REPO, tmp_path / 'checkout')
    # Each run imports its own table1_rows (the script's sibling, from its own path), as a
    # process in that checkout would; the other tests keep theirs.
    monkeypatch.setattr(sys, 'path', list(sys.path))
    monkeypatch.delitem(sys.modules, 'table1_rows', raising=False)

    def keys(repo):
        sys.modules.pop('table1_rows', None)
        spec = importlib.util.spec_from_file_location(
            'table1_elsewhere', osp.join(repo, 'benchmarks', 'reproduce_table1.py'))
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        assert bench.REPO == repo
        args = bench.parse_args(['--family', 'dino', '--size', 'medium', '--work-dir',
                                 f'{repo}/work_dirs/table1', '--data-root',
                                 f'{repo}/data/shapes', '--teacher-init', 'pretrained'])
        teachers = bench.teacher_jobs(args)
        jobs = teachers + [bench.student_job('Student', args, teachers, 0)]
        return [osp.basename(c.work_dir) for c in jobs]

    sys.path.insert(0, BENCH)
    here = keys(REPO)
    assert keys(str(tmp_path / 'checkout')) == here and len(set(here)) == len(here)


def test_evaluation_cache_is_keyed_by_partitions(tmp_path):
    """Raw is one model for 2 and 4 teachers; its scores per partition must not mix."""
    bench = load('reproduce_table1')
    two = {'T1': ('circle', 'square'), 'T2': ('ring', 'star')}
    four = {'T1': ('circle', ), 'T2': ('square', ), 'T3': ('ring', ), 'T4': ('star', )}
    paths = [bench.result_path(str(tmp_path), p) for p in (two, four, dict(two))]
    assert paths[0] != paths[1] and paths[0] == paths[2]
    assert all(osp.dirname(p) == str(tmp_path) and p.endswith('.json') for p in paths)


def test_report_only_needs_trained_teachers(tmp_path):
    bench = load('reproduce_table1')
    with pytest.raises(ValueError, match='--report-only: the teachers in .* are not trained'):
        bench.main(['--size', 'quick', '--only', '--report-only', '--work-dir',
                    str(tmp_path / 'work'), '--data-root', str(tmp_path / 'data'),
                    '--out', str(tmp_path / 'table1.md')])
    assert not (tmp_path / 'table1.md').exists()


def test_train_only_trains_what_its_rows_need_and_records_each_when_it_is_trained(
        tmp_path, monkeypatch):
    """Trainings and evaluations faked, their order logged: Raw alone trains no teachers;
    a KA row trains the teachers, which are evaluated (recorded) before any student trains,
    and each student is evaluated as soon as its own training has finished."""
    bench = load('reproduce_table1')
    events = []

    def fake_training(todo, train_tool, parallel, log, on_trained=None):
        for name, cfg in todo:
            events.append(('train', name.rsplit('-', 1)[0]))  # without the key
            os.makedirs(cfg.work_dir, exist_ok=True)
            open(bench.last_checkpoint(cfg), 'w').close()
            on_trained and on_trained(name)

    def fake_evaluate(cfg, checkpoint, partitions, model_cfg, train_dir=None, commit=None,
                      records_root=None):
        name = 'ensemble' if train_dir is None else osp.basename(train_dir).rsplit('-', 1)[0]
        events.append(('evaluate', name))
        return record(0.5)

    monkeypatch.setattr(bench, 'run_training_jobs', fake_training)
    monkeypatch.setattr(bench, 'evaluate', fake_evaluate)
    argv = ['--size', 'quick', '--train-only', '--jobs', '1', '--work-dir',
            str(tmp_path / 'work'), '--data-root', str(tmp_path / 'data')]
    bench.main(argv + ['--only', 'Raw'])
    assert events == [('train', 'raw-seed0')] + [('evaluate', 'raw-seed0')] * 2
    events.clear()
    teachers = [('train', 'teacher1of2'), ('train', 'teacher2of2')]
    judged = [('evaluate', 'teacher1of2'), ('evaluate', 'teacher2of2'), ('evaluate', 'ensemble')]
    # `--only` with no names: the teachers and the Ensemble are the rows, so they train.
    bench.main(argv + ['--work-dir', str(tmp_path / 'teachers_only'), '--only'])
    assert events[:5] == teachers + judged
    events.clear()
    bench.main(argv + ['--only', 'Raw', 'Student', 'SA only'])
    # Raw has its checkpoint: not trained again.
    assert events[:6] == teachers + judged + [('train', 'student-seed0')]
    assert events[6:9] == [('evaluate', 'student-seed0'), ('train', 'sa-only-seed0'),
                            ('evaluate', 'sa-only-seed0')]


def test_jobs_are_slots_even_for_fewer_runs(monkeypatch):
    bench = load('reproduce_table1')
    monkeypatch.setattr(bench.os, 'cpu_count', lambda: 2)
    assert bench.training_slots(2, 1) == 2  # one run beside another invocation: 1 thread
    assert bench.training_slots(None, 1) == 1  # a lone run by default: both cores
    assert bench.training_slots(None, 5) == 2 and bench.training_slots(None, 0) == 1


def test_bad_names_are_refused():
    bench = load('reproduce_table1')
    with pytest.raises(SystemExit):
        bench.parse_args(['--only', 'Studnet'])


def test_a_second_records_root_needs_its_own_work_dir(tmp_path, capsys):
    bench = load('reproduce_table1')
    with pytest.raises(SystemExit):
        bench.parse_args(['--records', str(tmp_path / 'records')])
    assert 'needs its own --work-dir' in capsys.readouterr().err
    args = bench.parse_args(['--records', str(tmp_path / 'records'),
                             '--work-dir', str(tmp_path / 'work')])
    assert args.work_dir == str(tmp_path / 'work')
    assert bench.parse_args(['--records', bench.records.RECORDS]).records == \
        bench.records.RECORDS  # the default root, named: the default work dir is its own


def test_dino_quick_run_reports_its_rows_and_epochs(tmp_path):
    """The DINO family end to end at the quick size, students at an overridden schedule."""
    bench = load('reproduce_table1')
    out = tmp_path / 'table1_dino.md'
    rows = bench.main(['--family', 'dino', '--size', 'quick', '--student-epochs', '2',
                       '--only', 'Raw', 'Student', '--work-dir', str(tmp_path / 'work'),
                       '--data-root', str(tmp_path / 'data'), '--out', str(out)])
    assert list(rows) == ['Teacher_1', 'Teacher_2', 'Ensemble', 'Raw', 'Student']
    text = out.read_text()
    assert text.startswith('# Table I in miniature: shapes_2t, tiny DINO, size quick')
    for row in rows:
        assert f'| {row} |' in text
    assert 'Schedule: teachers 1 epochs, every student 2 epochs (lr step at 5/6)' in text
    assert rows['Student'][0]['curve'][-1][0] == 2 and rows['Raw'][0]['curve'][-1][0] == 2
    assert rows['Student'][0]['params'] > rows['Raw'][0]['params']  # 2 input projections
    runs = sorted(p.name for p in (tmp_path / 'work').iterdir() if p.name != 'teacher_cache')
    assert runs and all(name.startswith('dino-') for name in runs)
    assert (tmp_path / 'table1_dino_curves.png').is_file()


def test_family_and_epochs_choose_configs_schedules_and_default_out(tmp_path):
    bench = load('reproduce_table1')
    results = osp.join(REPO, 'benchmarks/results')
    common = ['--work-dir', str(tmp_path), '--data-root', str(tmp_path / 'data')]
    # Today's names for the default family at the size's epochs (given or not).
    assert bench.parse_args([]).out == osp.join(results, 'table1_shapes_2t.md')
    args = bench.parse_args(['--size', 'medium', '--student-epochs', '6'])
    assert args.out == osp.join(results, 'table1_shapes_2t_medium.md')
    assert (args.family, args.teacher_epochs, args.student_epochs) == ('conditional-detr', 12, 6)
    # Any other family or epochs: family, size and both epochs in the name.
    args = bench.parse_args(['--family', 'dino', '--size', 'medium', '--student-epochs', '24',
                             '--teacher-epochs', '24'] + common)
    assert args.out == osp.join(results, 'table1_shapes_2t_dino_medium_s24_t24.md')
    assert bench.parse_args(['--partition', 'shapes_4t', '--size', 'medium',
                             '--student-epochs', '24']).out == \
        osp.join(results, 'table1_shapes_4t_conditional-detr_medium_s24_t12.md')
    assert bench.parse_args(['--family', 'dino']).out == \
        osp.join(results, 'table1_shapes_2t_dino_full_s15_t30.md')
    # The chosen epochs reach the configs, lr step at 5/6; the DINO family's configs.
    teachers = bench.teacher_jobs(args)
    assert [t.train_cfg.max_epochs for t in teachers] == [24, 24]
    assert osp.basename(teachers[0].work_dir).startswith('dino-teacher1of2-')
    student = bench.student_job('Student', args, teachers, seed=0)
    assert student.train_cfg.max_epochs == 24
    assert [s.milestones for s in student.param_scheduler if s.type == 'MultiStepLR'] == [[20]]
    assert student.model.student.type == 'KADINOStudent'
    assert [osp.relpath(t['config'], REPO) for t in student.model.teachers] == [
        f'configs/teachers/dino_r18tiny_1xb16-12e_shapes-t{t}of2.py' for t in (1, 2)]
    assert osp.basename(student.work_dir).startswith('dino-student-seed0-')
    assert bench.ensemble_cfg(args, teachers).model.type == 'TeacherEnsemble'


def test_argument_errors_are_clear(capsys, monkeypatch):
    bench = load('reproduce_table1')
    missing = 'configs/teachers/dino_r18tiny_1xb16-99e_shapes-t{}of{}.py'
    monkeypatch.setitem(bench.FAMILIES, 'dino', dict(bench.FAMILIES['dino'], teacher=missing))
    with pytest.raises(ValueError, match='dino_r18tiny_1xb16-99e_shapes-t1of4.py does not exist'):
        bench.parse_args(['--partition', 'shapes_4t', '--family', 'dino'])
    for argv, message in [
            (['--family', 'dino', '--only', 'Raw', 'SAGG'],
             "the dino family has no student 'SAGG'; choose from ['Raw', 'Raw_ext'"),
            (['--only', 'Student', 'Studnet'],
             "the conditional-detr family has no student 'Studnet'"),
            (['--student-epochs', '0'], '--student-epochs must be >= 1, got 0'),
            (['--family', 'yolo'], "invalid choice: 'yolo'"),
            (['--teacher-init', 'pretrained'],
             "the conditional-detr family has no pre-training config; families with one: "
             "['dino']"),
            (['--family', 'dino', '--pretrained-raw'],
             "--pretrained-raw fine-tunes Raw from the teachers' pre-training; add "
             '--teacher-init pretrained'),
            (['--family', 'dino', '--pretrained-student'],
             "--pretrained-student fine-tunes the Student from the teachers' pre-training; "
             'add --teacher-init pretrained')]:
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
        assert message in capsys.readouterr().err


def test_dino_runs_4_teachers_for_shapes_4t(tmp_path):
    """Table IV with DINO: the job list has the 4 DINO teachers of the shapes_4t partition,
    and the students and the Ensemble get all 4."""
    from mmka.datasets import get_partition
    bench = load('reproduce_table1')
    args = bench.parse_args(['--family', 'dino', '--partition', 'shapes_4t', '--size', 'medium',
                             '--work-dir', str(tmp_path), '--data-root', str(tmp_path / 'd')])
    assert args.out.endswith('table1_shapes_4t_dino_medium_s6_t12.md')
    teachers = bench.teacher_jobs(args)
    assert [osp.basename(t.work_dir).rsplit('-', 1)[0] for t in teachers] == [
        f'dino-teacher{t}of4' for t in range(1, 5)]
    assert [tuple(t.train_dataloader.dataset.metainfo.classes) for t in teachers] == \
        list(get_partition('shapes_4t'))
    assert all(t.model.type == 'DINOAnyDim' and t.train_cfg.max_epochs == 12 for t in teachers)
    for name in ('Student', 'Student_slim', 'Raw_ext'):
        cfg = bench.student_job(name, args, teachers, seed=0)
        ka = cfg.model.student if cfg.model.type == 'KADETRAmalgamator' else cfg.model
        assert ka.type == 'KADINOStudent' and ka.num_teachers == 4, name
    student = bench.student_job('Student', args, teachers, seed=0)
    assert [osp.relpath(t['config'], REPO) for t in student.model.teachers] == [
        f'configs/teachers/dino_r18tiny_1xb16-12e_shapes-t{t}of4.py' for t in range(1, 5)]
    assert len(bench.ensemble_cfg(args, teachers).model.teachers) == 4


#: Work dirs of rows cached by earlier commits (a hash of the config text, independent of the
#: checkout's location): a change to how existing rows are configured renames them, and the
#: benchmark would silently train them again. (An mmdet upgrade that changes its
#: default_runtime also renames them.)
KNOWN_RUNS = {
    ('--family', 'dino', '--size', 'medium', '--teacher-epochs', '24', '--student-epochs', '24'):
        ['dino-teacher1of2-c7c94fead6', 'dino-teacher2of2-1590e87844', 'dino-raw-seed0-f543a0c511'],
    ('--partition', 'shapes_4t', '--size', 'medium'):
        ['teacher1of4-f4de62cddd', 'teacher2of4-1d85750134', 'teacher3of4-88ec5cc29d',
         'teacher4of4-c175e4f4e0', 'raw-seed0-0166ef9409'],
}


@pytest.mark.parametrize('argv', list(KNOWN_RUNS), ids=' '.join)
def test_existing_rows_keep_their_keys(argv):
    bench, rows = load('reproduce_table1'), load_rows()
    common = ['--work-dir', '/w', '--data-root', '/data/shapes']
    runs = {}
    for flag in ([], ['--compute-matched']):
        args = bench.parse_args(list(argv) + common + flag)
        teachers = bench.teacher_jobs(args)
        runs[tuple(flag)] = [osp.basename(c.work_dir) for c in teachers + [
            bench.student_job(n, args, teachers, 0) for n in rows.family_of(args)['students']]]
    assert runs[()][:len(KNOWN_RUNS[argv])] == KNOWN_RUNS[argv]  # the teachers, then Raw
    assert runs[()] == runs[('--compute-matched', )]  # the flag adds a row, changes none


#: Rows of the Conditional DETR family that the DINO family leaves out, with the reason; none:
#: each has a DINO config (label-free: no ground-truth term of any kind, see the configs).
NOT_IN_DINO = {}


#: The DINO rows the Conditional DETR family has not, and why.
ONLY_IN_DINO = {'SA+TA label-free, proposal TA': 'TA on the two-stage proposals, which a '
                'Conditional DETR has not',
                'SA+TA label-free, proposal TA, every layer': 'the same, on every decoder '
                'layer too',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5': 'the same, with '
                'the targets filtered at conf > 0.5',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising': 'the '
                'same, with denoising queries built from the targets',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted': 'the same, with TA matched by DETR\'s cost and '
                'unweighted',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted, focal': 'the same, with TA\'s class term focal on the '
                'targets\' argmax labels',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted, focal, background 0.1': 'the same, with unmatched '
                'queries at eq. 11\'s background weight',
                'SA+TA label-free, targets as labels': 'the Student\'s recipe with its '
                'ground-truth loss on the targets, which the Conditional DETR family does '
                'not run',
                'Raw, no denoising': 'Raw without the denoising loss, which a Conditional '
                'DETR has not',
                'Student, TA every layer, total weight 1': 'a diagnostic of the every-layer '
                'row under the DINO teachers'}


def test_dino_family_has_every_row_of_the_conditional_detr_family():
    rows = load_rows()
    dino, cdetr = rows.DINO_STUDENTS, rows.STUDENTS
    assert [name for name in dino if name not in ONLY_IN_DINO] == \
        [name for name in cdetr if name not in NOT_IN_DINO]
    for name, path in dino.items():
        assert osp.isfile(osp.join(REPO, path)), path
        if name in cdetr and cdetr[name].startswith('configs/ka/'):  # the same row's sibling
            assert path == cdetr[name].replace('ka/shapes_2t', 'ka/shapes_2t_dino'), name


#: The DINO rows that existed before the family had every row: the key of each row's job
#: config with the teachers' config paths relative to the checkout (the work-dir key hashes
#: their absolute paths, so it depends on where the checkout lives). A change renames the
#: row's cached runs. Recorded with the teachers in bf16 (`use_cheap_teachers` on a CPU with
#: native bf16), so the test asks for that precision on every CPU.
KNOWN_DINO_ROWS = {
    ('--family', 'dino', '--size', 'medium', '--teacher-epochs', '24',
     '--student-epochs', '24'):
        ['raw-f543a0c511', 'raw-ext-6e8ae10458', 'student-1a37ad63bf',
         'student-slim-2378038a2c', 'sa-only-1034dc21fd', 'ta-only-af1f79e4a2'],
    ('--family', 'dino', '--partition', 'shapes_4t', '--size', 'medium'):
        ['raw-a996fe5ab3', 'raw-ext-e8fb9b5492', 'student-af15324948',
         'student-slim-6e2664cea6', 'sa-only-5783962b15', 'ta-only-77a1423211'],
}


@pytest.mark.parametrize('argv', list(KNOWN_DINO_ROWS), ids=' '.join)
def test_existing_dino_rows_keep_their_configs(argv, monkeypatch):
    bench, rows = load('reproduce_table1'), load_rows()
    args = bench.parse_args(list(argv) + ['--teacher-dtype', 'bfloat16', '--work-dir', '/w',
                                          '--data-root', '/data/shapes'])
    teachers = bench.teacher_jobs(args)
    keyed = rows.keyed
    monkeypatch.setattr(rows, 'keyed', lambda cfg, name, work_dir: cfg)  # keyed below
    keys = []
    for name in ('Raw', 'Raw_ext', 'Student', 'Student_slim', 'SA only', 'TA only'):
        cfg = bench.student_job(name, args, teachers, 0)
        for teacher in cfg.model.get('teachers', []):
            teacher['config'] = osp.relpath(teacher['config'], REPO)
        keys.append(osp.basename(keyed(cfg, name, '/w').work_dir))
    assert keys == KNOWN_DINO_ROWS[argv]


def test_every_dino_row_builds_as_the_benchmark_configures_it(tmp_path, monkeypatch):
    """Each KA row's job config (teachers, cheap teachers, teacher output cache) builds with
    tiny models; the point-TA row runs its teachers every step, since a DINO teacher's
    recorded encoder call cannot be cached per image."""
    from mmdet.registry import MODELS
    from ..models.amalgamators.tiny_setup import T1, T2
    from ..models.detectors.dino_setup import save_dino_teacher, tiny_dino_ka_model
    bench, rows = load('reproduce_table1'), load_rows()
    args = bench.parse_args(['--family', 'dino', '--size', 'quick', '--work-dir',
                             str(tmp_path / 'w'), '--data-root', str(tmp_path / 'data')])
    teachers = bench.teacher_jobs(args)
    monkeypatch.setattr(rows, 'keyed', lambda cfg, name, work_dir: cfg)  # no work dirs here
    tiny = [save_dino_teacher(tmp_path / 't1.pth', T1, seed=1),
            save_dino_teacher(tmp_path / 't2.pth', T2, seed=2)]
    built = []
    for name in rows.DINO_STUDENTS:
        cfg = bench.student_job(name, args, teachers, 0)
        if cfg.model.type != 'KADETRAmalgamator':
            continue
        points = any(h.type == 'PointTaskAmalgamation' for h in cfg.model.hooks)
        assert ('teacher_cache' in cfg.model) is not points, name
        model = MODELS.build(tiny_dino_ka_model(cfg.model, tiny))
        assert (model.teacher_cache is None) is points, name
        built.append(name)
    without_teachers = {'Raw', 'Raw_ext', 'Raw, no denoising'}
    assert built == [name for name in rows.DINO_STUDENTS if name not in without_teachers]


def test_compute_matched_epochs_count_teachers_and_student():
    bench = load('reproduce_table1')
    report = load('table1_report')
    raw = dict(flops=10, images=100)  # 3 x 10 x 100 = 3000 FLOPs per Raw epoch
    teachers = [dict(flops=10, images=50, epochs=6), dict(flops=5, images=60, epochs=4)]
    student = dict(flops=20, images=100, epochs=5)
    budget = bench.compute_matched_epochs(raw, teachers, student)
    assert budget['raw_epoch'] == 3000
    assert budget['teacher_flops'] == [9000, 3600]  # 3 and 1.2 Raw epochs
    # (3 x 20 + 10 + 5 teachers' forward) x 100 images x 5 epochs: 12.5 Raw epochs
    assert budget['student_flops'] == 37500
    assert budget['total'] == 50100 and budget['epochs'] == 17  # 16.7 rounded up
    one = bench.compute_matched_epochs(raw, teachers[:1], dict(student, flops=15, epochs=3))
    assert one['total'] == 9000 + 16500 and one['epochs'] == 9  # 8.5 -> 9
    exact = bench.compute_matched_epochs(raw, [dict(flops=10, images=100, epochs=2)],
                                         dict(flops=10, images=75, epochs=2))
    assert exact['total'] == 6000 + 6000 and exact['epochs'] == 4  # no rounding up
    lines = report.compute_matched_lines(budget)
    assert lines[1] == 'Teacher_1: 3 x 0.000 GFLOPs x 50 images x 6 epochs = 3.00 Raw epochs'
    assert lines[-1].startswith('Total (teachers + Student): 16.70 Raw epochs, so '
                                '`Raw, compute-matched` trains E_cm = 17 epochs')
    assert budget['pretraining_flops'] == 0 and not any('Pre-training' in x for x in lines)
    # --teacher-init pretrained: the pre-training counts once, whatever the number of
    # teachers that start from it: 3 x 10 x 120 x 2 = 7200 FLOPs, 2.4 Raw epochs.
    pretraining = dict(flops=10, images=120, epochs=2)
    with_pre = bench.compute_matched_epochs(raw, teachers, student, pretraining)
    assert with_pre['pretraining_flops'] == 7200 and with_pre['teacher_flops'] == [9000, 3600]
    assert with_pre['total'] == 50100 + 7200 and with_pre['epochs'] == 20  # 19.1 -> 20
    lines = report.compute_matched_lines(with_pre)
    assert lines[1] == ("Pre-training (the teachers' start, counted once): 3 x 0.000 GFLOPs "
                        'x 120 images x 2 epochs = 2.40 Raw epochs')
    assert lines[-1].startswith('Total (pre-training + teachers + Student): 19.10 Raw epochs, '
                                'so `Raw, compute-matched` trains E_cm = 20 epochs')
    for bad, message in [
            (dict(raw=dict(flops=10, images=0)), 'Raw needs positive integer flops, images; '
             'got images=0'),
            (dict(student=dict(flops=2.5, images=10, epochs=1)), 'Student needs positive '
             'integer flops, images, epochs; got flops=2.5'),
            (dict(teachers=[teachers[0], dict(flops=1, images=1)]), 'Teacher_2 needs positive '
             'integer flops, images, epochs; got epochs=None'),
            (dict(teachers=[]), 'no teachers'),
            (dict(pretraining=dict(flops=10, images=120)), 'the pre-training needs positive '
             'integer flops, images, epochs; got epochs=None')]:
        given = dict(dict(raw=raw, teachers=teachers, student=student), **bad)
        with pytest.raises(ValueError, match=re.escape(message)):
            bench.compute_matched_epochs(**given)


def test_partition_table_gives_each_models_ap_on_each_teachers_classes():
    report = load('table1_report')

    def rec(t1, t2):
        return dict(metrics={'coco/T1_bbox_mAP': t1, 'coco/T2_bbox_mAP': t2})

    rows = {'Teacher_1': [rec(0.77, 0.0)], 'Raw': [rec(0.70, 0.60), rec(0.72, 0.62)]}
    assert report.partition_table(rows, {'T1': ('circle', ), 'T2': ('ring', )}) == [
        '| model | AP T1 | AP T2 |', '|---|---|---|', '| Teacher_1 | 77.0 | 0.0 |',
        '| Raw | 71.0 ± 1.4 | 61.0 ± 1.4 |']


def test_premise_compares_each_teacher_with_raw_on_its_classes():
    report = load('table1_report')

    def rec(t1, t2, all_classes=0.5):
        return dict(metrics={'coco/T1_bbox_mAP': t1, 'coco/T2_bbox_mAP': t2,
                             'coco/bbox_mAP': all_classes})

    partitions = {'T1': ('circle', ), 'T2': ('ring', )}
    rows = {'Teacher_1': [rec(0.75, 0.0)], 'Teacher_2': [rec(0.0, 0.50)],
            'Raw': [rec(0.70, 0.60), rec(0.72, 0.62)]}  # sd 1.4 on each, 0 on all classes
    assert report.premise_findings(rows, partitions) == [
        "- Teacher_1 > Raw on Teacher_1's classes (the paper's premise): holds (75.0 vs 71.0, "
        '+4.0 AP; 2 sd = 2.8)',
        "- Teacher_2 > Raw on Teacher_2's classes (the paper's premise): **does not hold** "
        '(50.0 vs 61.0, -11.0 AP; 2 sd = 2.8)']
    # Raw's seeds agree on T1 by chance: the noise is still its largest spread (T2's).
    rows['Raw'] = [rec(0.71, 0.60), rec(0.71, 0.62)]
    assert report.premise_findings(rows, partitions)[0].endswith(
        'holds (75.0 vs 71.0, +4.0 AP; 2 sd = 2.8)')
    rows['Teacher_1'] = [rec(0.73, 0.0)]
    assert report.premise_findings(rows, partitions)[0].endswith(
        'within noise (73.0 vs 71.0, +2.0 AP; 2 sd = 2.8)')
    # A one-seed baseline (e.g. 'Raw, pre-trained') takes the largest spread of the rows
    # with several seeds, as every other finding does.
    rows['Raw, pre-trained'] = [rec(0.70, 0.49)]
    lines = report.premise_findings(rows, partitions, 'Raw, pre-trained')
    assert lines[1].endswith('within noise (50.0 vs 49.0, +1.0 AP; 2 sd = 2.8)')
    del rows['Raw, pre-trained']
    rows['Raw'] = [rec(0.70, 0.49)]
    lines = report.premise_findings(rows, partitions)
    assert lines[1].endswith('holds (50.0 vs 49.0, +1.0 AP; one seed, spread not measured)')
    del rows['Raw']
    assert report.premise_findings(rows, partitions)[0].endswith(
        'not run (needs `Teacher_1`, `Raw`)')


def test_resumable_keeps_load_from_only_for_a_fresh_start(tmp_path):
    """mmengine resumes *from* load_from when resume is set too: a pre-trained teacher would
    take its pre-training's epoch counter, so load_from only starts a run."""
    from mmengine.config import Config
    bench = load('reproduce_table1')
    cfg = Config(dict(work_dir=str(tmp_path), load_from='/pretrain/epoch_2.pth',
                      train_cfg=dict(val_interval=2), default_hooks=dict(checkpoint={})))
    fresh = bench.resumable(cfg.copy())
    assert (fresh.resume, fresh.load_from) == (False, '/pretrain/epoch_2.pth')
    assert fresh.default_hooks.checkpoint.interval == 2
    # mmengine removes the oldest checkpoint before saving the next: keeping one would leave
    # none to resume from after a kill while saving.
    assert fresh.default_hooks.checkpoint.max_keep_ckpts == 2
    (tmp_path / 'epoch_2.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    again = bench.resumable(cfg.copy())
    assert (again.resume, again.load_from) == (True, str(tmp_path / 'epoch_2.pth'))
    plain = bench.resumable(Config(dict(cfg.to_dict(), load_from=None)))
    assert (plain.resume, plain.load_from) == (True, str(tmp_path / 'epoch_2.pth'))


def test_resumable_goes_on_from_the_newest_checkpoint_there_when_last_checkpoint_is_stale(
        tmp_path):
    """A run killed while saving left ``last_checkpoint`` naming epoch_20.pth, which is gone
    (seen at a session's end): mmengine's own resume would raise FileNotFoundError."""
    from mmengine.config import Config
    bench = load('reproduce_table1')
    cfg = Config(dict(work_dir=str(tmp_path), load_from=None,
                      train_cfg=dict(val_interval=2), default_hooks=dict(checkpoint={})))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_20.pth'))
    assert bench.resumable(cfg.copy()).resume is False  # nothing there: start afresh
    for epoch in (4, 18, 6):
        (tmp_path / f'epoch_{epoch}.pth').write_bytes(b'')
    (tmp_path / 'best_coco.pth').write_bytes(b'')
    cont = bench.resumable(cfg.copy())
    assert (cont.resume, cont.load_from) == (True, str(tmp_path / 'epoch_18.pth'))


def test_pretrained_teachers_fine_tune_from_the_class_agnostic_pretraining(tmp_path):
    """--teacher-init pretrained: the pre-training runs on other, class-agnostic images, the
    teachers load it (but its 1-class heads), Raw keeps its key, Raw and the Student start
    from it in their pre-trained rows, and the report says so."""
    bench = load('reproduce_table1')
    common = ['--family', 'dino', '--size', 'quick', '--work-dir', str(tmp_path / 'work'),
              '--data-root', str(tmp_path / 'data')]
    out = tmp_path / 'table1.md'
    rows = bench.main(common + ['--teacher-init', 'pretrained', '--pretrained-raw',
                                '--pretrained-student', '--only', 'Raw', '--out', str(out)])
    assert list(rows) == ['Teacher_1', 'Teacher_2', 'Ensemble', 'Raw', 'Raw, pre-trained',
                          'Student, pre-trained']
    args = bench.parse_args(common + ['--teacher-init', 'pretrained'])
    pretrain = bench.pretrain_job(args)
    assert osp.basename(pretrain.work_dir).startswith('dino-pretrain-agnostic-')
    assert pretrain.model.bbox_head.num_classes == 1
    assert pretrain.train_dataloader.dataset.data_root == str(tmp_path / 'data_pretrain') + '/'
    import json
    data = json.loads((tmp_path / 'data_pretrain/annotations/instances_train_agnostic.json')
                      .read_text())
    assert data['categories'] == [dict(id=1, name='shape')]
    assert json.loads((tmp_path / 'data_pretrain/generation.json').read_text())[
        'params']['seed'] == bench.PRETRAIN_DATA_SEED != 0
    for t, teacher in enumerate(bench.teacher_jobs(args), 1):
        assert osp.basename(teacher.work_dir).startswith(f'dino-teacher{t}of2-pretrained-')
        assert teacher.load_from == bench.last_checkpoint(pretrain)
        log = open(osp.join(teacher.work_dir, 'train.log')).read()
        assert f'Load checkpoint from {teacher.load_from}' in log
        assert 'size mismatch for bbox_head.cls_branches' in log  # 1 class -> 10: not loaded
    raw_pretrained = load_rows().pretrained_raw_job(args, 0)
    assert osp.basename(raw_pretrained.work_dir).startswith('dino-raw--pre-trained-seed0-')
    assert raw_pretrained.load_from == bench.last_checkpoint(pretrain)
    assert raw_pretrained.model.bbox_head.num_classes == 20
    log = open(osp.join(raw_pretrained.work_dir, 'train.log')).read()
    assert f'Load checkpoint from {raw_pretrained.load_from}' in log
    assert "- Raw from the teachers' pre-training > Student (paper: Raw_UP 1.1 AP above" \
        in out.read_text()
    teachers = bench.teacher_jobs(args)
    student = load_rows().pretrained_student_job(args, teachers, 0)
    assert osp.basename(student.work_dir).startswith('dino-student--pre-trained-seed0-')
    assert student.model.student_checkpoint == bench.last_checkpoint(pretrain)
    assert student.model.teacher_cache == bench.student_job('Student', args, teachers,
                                                            0).model.teacher_cache
    log = open(osp.join(student.work_dir, 'train.log')).read()
    assert f'The student starts from {bench.last_checkpoint(pretrain)}' in log
    assert 'keep their initialisation: bbox_head.cls_branches.0.weight' in log
    assert "- Student > Raw, both from the teachers' pre-training" in out.read_text()
    for baseline in ('Raw', 'Raw, pre-trained'):
        assert f"- Teacher_2 > {baseline} on Teacher_2's classes (the paper's premise)" in \
            out.read_text()
    scratch = bench.parse_args(common)
    assert bench.student_job('Raw', args, [], 0).work_dir == \
        bench.student_job('Raw', scratch, [], 0).work_dir
    assert args.out.endswith('table1_shapes_2t_dino_quick_s1_t1_pretrained.md')
    assert "Teachers: fine-tuned from a class-agnostic pre-training (`dino-pretrain-agnostic-" \
        in out.read_text()
    # --compute-matched: the pre-training counts once, at its own images and epochs.
    budget = bench.compute_matched_budget(args, teachers)
    from_scratch = bench.compute_matched_budget(scratch, bench.teacher_jobs(scratch))
    assert from_scratch['pretraining'] is None and from_scratch['pretraining_flops'] == 0
    pretraining = budget['pretraining']
    assert pretraining['epochs'] == pretrain.train_cfg.max_epochs
    assert 0 < pretraining['images'] <= len(data['images']) and pretraining['flops'] > 0
    assert budget['pretraining_flops'] == 3 * pretraining['flops'] * pretraining['images'] * \
        pretraining['epochs']
    assert budget['total'] == from_scratch['total'] + budget['pretraining_flops']
    assert budget['epochs'] > from_scratch['epochs']


def test_curve_record_names_the_commit_the_invocation_started_at(tmp_path):
    """A commit made while a run trains did not train it: the record keeps the start's."""
    bench = load('reproduce_table1')
    from mmengine.config import Config
    cfg = Config(dict(work_dir=str(tmp_path / 'run'), train_cfg=dict(max_epochs=2)))
    records_root = str(tmp_path / 'records')
    assert bench.curve_record(cfg, records_root, 'abc1234') is None  # not trained yet
    os.makedirs(cfg.work_dir)
    open(bench.last_checkpoint(cfg), 'w').close()
    assert bench.curve_record(cfg, records_root, 'abc1234')['mmka'] == 'abc1234'
    # Committed once: a later invocation reads it back, whatever its own commit.
    assert bench.curve_record(cfg, records_root, 'def5678')['mmka'] == 'abc1234'


def write_scalars(work_dir, timestamp, validations):
    vis = work_dir / timestamp / 'vis_data'
    vis.mkdir(parents=True)
    lines = ['{"loss": 1.0, "step": 1}']  # a training record: not part of the curve
    lines += [f'{{"coco/bbox_mAP": {ap}, "coco/bbox_mAP_50": {ap50}, "step": {epoch}}}'
              for epoch, ap, ap50 in validations]
    (vis / 'scalars.json').write_text('\n'.join(lines) + '\n')


def test_learning_curve_joins_a_resumed_run_and_keeps_the_newest_of_a_restart(tmp_path):
    bench = load('reproduce_table1')
    write_scalars(tmp_path, '20261203_170000', [(2, 0.1, 0.2), (4, 0.3, 0.5)])
    # A restart from scratch in the same work dir validates epochs 2 and 4 again ...
    write_scalars(tmp_path, '20261203_180000', [(2, 0.15, 0.25), (4, 0.35, 0.55)])
    # ... and a resume of it continues the curve.
    write_scalars(tmp_path, '20261203_190000', [(6, 0.5, 0.7)])
    assert bench.learning_curve(str(tmp_path)) == [
        [2, 0.15, 0.25], [4, 0.35, 0.55], [6, 0.5, 0.7]]


@pytest.mark.parametrize('native', [True, False])
def test_a_ka_row_recorded_under_the_other_precision_is_found(tmp_path, monkeypatch, native):
    """The teachers' precision (bf16 where native) is in a KA row's key: a table written on a
    CPU of the other kind must find the row's record, not call it untrained; a row with a
    record under this CPU's precision keeps it, and Raw (no teachers) is one key."""
    bench = load('reproduce_table1')
    monkeypatch.setattr(config_utils, 'native_bf16', lambda: native)
    monkeypatch.setattr(bench, 'native_bf16', lambda: native)
    common = ['--family', 'dino', '--size', 'medium', '--teacher-init', 'pretrained', '--only',
              'Raw', 'Student', '--seeds', '0', '1', '--work-dir', str(tmp_path / 'work'),
              '--records', str(tmp_path / 'records')]
    args = bench.parse_args(common)
    partitions = {'T1': ('circle', ), 'T2': ('ellipse', )}
    teachers = bench.teacher_jobs(args)
    here = bench.student_jobs(args, teachers, None)
    other = 'float32' if native else 'bfloat16'
    args_there = bench.parse_args(common + ['--teacher-dtype', other])
    there = bench.student_jobs(args_there, teachers, None)
    assert here[('Raw', 0)].work_dir == there[('Raw', 0)].work_dir
    assert here[('Student', 0)].work_dir != there[('Student', 0)].work_dir

    def write_record(cfg):
        name = osp.basename(bench.result_path(cfg.work_dir, partitions))
        path = bench.records.record_path(cfg.work_dir, name, args.records)
        os.makedirs(osp.dirname(path))
        with open(path, 'w') as f:
            f.write('{}')

    write_record(there[('Student', 0)])  # seed 0: only the other kind of CPU trained it
    write_record(there[('Student', 1)])  # seed 1: both did; this CPU's record wins
    write_record(here[('Student', 1)])
    found = bench.recorded_in_either_precision(args, teachers, None, here, partitions)
    assert found[('Student', 0)].work_dir == there[('Student', 0)].work_dir
    assert found[('Student', 1)].work_dir == here[('Student', 1)].work_dir
    assert found[('Raw', 0)].work_dir == here[('Raw', 0)].work_dir
    assert found.keys() == here.keys()


def test_curves_legend_sits_below_the_axes_and_the_png_keeps_it(tmp_path):
    """22 students with long names: the legend names each, covers no curve, and the written
    PNG is cropped around it rather than cutting it off (the seeds table's 22 rows did)."""
    import matplotlib.image
    report = load('table1_report')
    rows = {'Teacher_1': [record(0.8, curve=[[2, 0.7]])], 'Raw, no curve': [record(0.5)]}
    for i in range(22):
        name = f'row {i}, ' + 'a long switch, ' * (i % 6)
        rows[name] = [record(0.5, curve=[[2, 0.1 + i / 100], [4, 0.5 + i / 100]])]
    fig = report.curves_figure(rows, 'dino')
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(rows)[2:]
    legend_box = legend.get_window_extent()
    assert legend_box.y1 <= ax.get_window_extent().y0  # below the axes, not over the curves
    colours = [line.get_color() for line in ax.get_lines()]
    assert len(set(colours[:20])) == 20
    assert [line.get_linestyle() for line in ax.get_lines()][20:] == ['--', '--']
    png = tmp_path / 'curves.png'
    report.plot_curves(rows, str(png), 'dino')
    height, width = matplotlib.image.imread(str(png)).shape[:2]
    # 4.5 in at 110 dpi is 495 px: the crop must add the legend's height, not cut it off.
    assert height > 495 + 0.9 * legend_box.height * 110 / fig.dpi
