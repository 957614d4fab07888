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
    rewritten after every epoch, so it is also there after an interrupted run. The sums
    travel in every checkpoint's ``meta`` (key ``train_time``), so a run resumed from one
    goes on counting from it; a checkpoint without them (saved before this hook existed,
    or without it) resumes from zero.

    Args:
        filename (str): file name inside the work dir. Default ``'train_time.json'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, filename: str = 'train_time.json') -> None:
        self.filename = filename
        self.seconds = 0.0
        self.epochs = 0
        self._start = None
        self._loaded = None  # the sums of a loaded checkpoint

    def before_train_epoch(self, runner) -> None:
        self._start = time.perf_counter()

    def after_train_epoch(self, runner) -> None:
        self.seconds += time.perf_counter() - self._start
        self.epochs += 1
        if is_main_process():
            with open(osp.join(runner.work_dir, self.filename), 'w') as f:
                json.dump(dict(train_seconds=self.seconds, epochs=self.epochs), f)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['train_time'] = dict(train_seconds=self.seconds,
                                                               epochs=self.epochs)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # mmengine calls this for `load_from` too; only a resume counts on (before_train).
        self._loaded = checkpoint.get('meta', {}).get('train_time')

    def before_train(self, runner) -> None:
        # A resumed run starts past epoch 0 (mmengine restores the loop's epoch); a run
        # that only loaded weights starts at 0 and counts its own epochs.
        if runner.epoch > 0 and self._loaded:
            self.seconds = self._loaded['train_seconds']
            self.epochs = self._loaded['epochs']
