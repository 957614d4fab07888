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
