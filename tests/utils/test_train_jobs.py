"""run_training_jobs: parallel processes, progress, failures named with their log."""
import os
import textwrap

import pytest
from mmengine.config import Config

from mmka.utils import last_checkpoint, run_training_jobs
from mmka.utils.train_jobs import progress

# A stand-in for tools/train.py: logs one mmengine-style line, then writes the checkpoint
# or fails, as the dumped config says. It outlives the line by more than two of
# run_training_jobs' 0.5 s polls, so a progress report sees it however fast the start-up
# was (with 0.3 s a fast machine finished between two polls and the report never came).
FAKE_TOOL = textwrap.dedent('''
    import os, sys, time
    from mmengine.config import Config
    cfg = Config.fromfile(sys.argv[1])
    print('Epoch(train)  [1][ 5/10]  lr: 1e-4  eta: 0:00:03  time: 0.1', flush=True)
    time.sleep(1.2)
    if cfg.fail:
        sys.exit('boom: ' + cfg.work_dir)
    open(os.path.join(cfg.work_dir, 'epoch_1.pth'), 'w').close()
    print('threads', os.environ['OMP_NUM_THREADS'])
''')


def job(tmp_path, name, fail=False):
    return name, Config(dict(work_dir=str(tmp_path / name), fail=fail,
                             train_cfg=dict(max_epochs=1)))


@pytest.fixture
def tool(tmp_path):
    (tmp_path / 'tools').mkdir()
    path = tmp_path / 'tools' / 'train.py'
    path.write_text(FAKE_TOOL)
    return str(path)


def test_jobs_run_in_parallel_and_report(tmp_path, tool):
    jobs = [job(tmp_path, f'm{i}') for i in range(3)]
    messages, done = [], []
    paths = dict((name, last_checkpoint(cfg)) for name, cfg in jobs)
    # Each job is handed over once, when its checkpoint is there.
    on_trained = lambda name: done.append((name, os.path.isfile(paths[name])))  # noqa: E731
    run_training_jobs(jobs, tool, parallel=2, log=messages.append, report_every=0.0,
                      on_trained=on_trained)
    for _, cfg in jobs:
        assert os.path.isfile(last_checkpoint(cfg))
    assert sorted(done) == [('m0', True), ('m1', True), ('m2', True)]
    assert sum(m.endswith(' trained') for m in messages) == 3
    assert any('epoch 1, iter 5/10, eta 0:00:03' in m for m in messages)


def test_failed_job_is_named_with_its_log(tmp_path, tool):
    jobs = [job(tmp_path, 'good'), job(tmp_path, 'bad', fail=True)]
    with pytest.raises(RuntimeError, match=r'(?s)Training bad failed.*train\.log.*boom'):
        run_training_jobs(jobs, tool, parallel=1, log=lambda m: None)
    with pytest.raises(ValueError, match='parallel'):
        run_training_jobs(jobs, tool, parallel=0)


def test_progress_of_a_log_without_training_lines(tmp_path):
    log = tmp_path / 'train.log'
    log.write_text('building the model\n')
    assert progress(str(log)) == 'starting'
