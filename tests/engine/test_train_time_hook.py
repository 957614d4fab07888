import json
import time
from types import SimpleNamespace

from mmka.engine import TrainTimeHook


def test_sums_epoch_spans_and_skips_what_happens_between(tmp_path):
    hook = TrainTimeHook()
    runner = SimpleNamespace(work_dir=str(tmp_path))
    for _ in range(2):
        hook.before_train_epoch(runner)
        time.sleep(0.05)  # training
        hook.after_train_epoch(runner)
        time.sleep(0.2)  # validation, checkpoint: not counted
    record = json.loads((tmp_path / 'train_time.json').read_text())
    assert record['epochs'] == 2
    assert 0.1 <= record['train_seconds'] < 0.3


def test_resumed_run_goes_on_counting_from_its_checkpoint(tmp_path):
    first = TrainTimeHook()
    runner = SimpleNamespace(work_dir=str(tmp_path), epoch=0)
    first.before_train(runner)
    first.before_train_epoch(runner)
    time.sleep(0.05)
    first.after_train_epoch(runner)
    checkpoint = dict(meta=dict(epoch=1))
    first.before_save_checkpoint(runner, checkpoint)
    assert checkpoint['meta']['epoch'] == 1  # mmengine's own meta is kept

    resumed = TrainTimeHook()
    resumed.after_load_checkpoint(runner, checkpoint)
    resumed.before_train(SimpleNamespace(work_dir=str(tmp_path), epoch=1))  # restored loop
    resumed.before_train_epoch(runner)
    time.sleep(0.05)
    resumed.after_train_epoch(runner)
    record = json.loads((tmp_path / 'train_time.json').read_text())
    assert record['epochs'] == 2
    assert 0.1 <= record['train_seconds'] < 0.2


def test_loading_weights_only_counts_from_zero(tmp_path):
    saved = dict(meta=dict(train_time=dict(train_seconds=100.0, epochs=12)))
    hook = TrainTimeHook()
    hook.after_load_checkpoint(None, saved)  # load_from: the loop stays at epoch 0
    runner = SimpleNamespace(work_dir=str(tmp_path), epoch=0)
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    hook.after_train_epoch(runner)
    record = json.loads((tmp_path / 'train_time.json').read_text())
    assert record['epochs'] == 1
    assert record['train_seconds'] < 1.0
