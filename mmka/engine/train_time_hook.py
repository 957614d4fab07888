"""Wall time spent training, validation excluded (the "train time" column of Table I)."""
import json
import os.path as osp
import time

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmdet.registry import HOOKS


@HOOKS.register_module()
class TrainTimeHook(Hook):
    """Sum the wall time of every training epoch and write it to ``<work_dir>/<filename>``.

    Validation and checkpoint saving fall outside the summed spans: mmengine's epoch loop
    validates after ``after_train_epoch``, and this hook (``VERY_HIGH``) ends its span
    before the CheckpointHook (``VERY_LOW``) saves. So models validated at different
    intervals stay comparable. The file, JSON ``{"train_seconds": s, "epochs": e}``, is
    rewritten after every epoch, so it is also there after an interrupted run. A resumed
    run counts only its own epochs.

    Args:
        filename (str): file name inside the work dir. Default ``'train_time.json'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, filename: str = 'train_time.json') -> None:
        self.filename = filename
        self.seconds = 0.0
        self.epochs = 0
        self._start = None

    def before_train_epoch(self, runner) -> None:
        self._start = time.perf_counter()

    def after_train_epoch(self, runner) -> None:
        self.seconds += time.perf_counter() - self._start
        self.epochs += 1
        if is_main_process():
            with open(osp.join(runner.work_dir, self.filename), 'w') as f:
                json.dump(dict(train_seconds=self.seconds, epochs=self.epochs), f)
