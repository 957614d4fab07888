"""Check the training pipeline for a teacher output cache, and log how the cache is used."""
from typing import List

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS


@HOOKS.register_module()
class TeacherCacheHook(Hook):
    """Enables a distiller's ``teacher_cache`` for the run, and logs its use per epoch.

    Before training, every transform of the training dataset's pipeline (through dataset
    wrappers such as ``RepeatDataset`` or ``ConcatDataset``) is checked: random transforms
    are refused unless the cache's mode keys them (see
    :class:`~mmka.models.teacher_cache.TeacherOutputCache`). After each epoch it logs the
    hits and misses of all ranks, the MiB written and the seconds spent filling (running the
    teachers on misses and writing), and reading. A model without a cache is left alone.
    mmka's ``tools/train.py`` adds this hook to any config whose model has a
    ``teacher_cache``.
    """

    priority = 'NORMAL'

    def before_train(self, runner) -> None:
        cache = self._cache(runner)
        if cache is None:
            return
        dataset = runner.train_dataloader.dataset
        for pipeline in _pipelines(dataset):
            cache.check_pipeline(pipeline)
        runner.logger.info(f'Teacher output cache {cache.dir!r} ({cache.mode}, {cache.dtype}): '
                           'the training pipeline is cacheable.')

    def after_train_epoch(self, runner) -> None:
        cache = self._cache(runner)
        if cache is None:
            return
        keys = sorted(cache.stats)
        totals = torch.tensor([float(cache.stats[k]) for k in keys], dtype=torch.float64)
        if get_dist_info()[1] > 1:
            all_reduce(totals)
        stats = dict(zip(keys, totals.tolist()))
        runner.logger.info(
            f"Teacher cache, epoch {runner.epoch + 1}, all ranks so far: "
            f"{int(stats['hits'])} hits, {int(stats['misses'])} misses (teacher-image "
            f"pairs), {stats['bytes_written'] / 2**20:.1f} MiB written, filling "
            f"{stats['fill_seconds']:.1f} s, reading {stats['read_seconds']:.1f} s.")

    @staticmethod
    def _cache(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return getattr(model, 'teacher_cache', None)


def _pipelines(dataset) -> List[list]:
    """The transform lists of a dataset and of every dataset it wraps."""
    found = []
    pipeline = getattr(dataset, 'pipeline', None)
    if pipeline is not None:
        found.append(getattr(pipeline, 'transforms', pipeline))
    for inner in getattr(dataset, 'datasets', None) or []:
        found += _pipelines(inner)
    if getattr(dataset, 'dataset', None) is not None:
        found += _pipelines(dataset.dataset)
    if not found:
        raise ValueError(f'Cannot find the pipeline of {type(dataset).__name__} to check it for '
                         'the teacher cache: give it a `pipeline` (or wrap a dataset that has '
                         'one).')
    return found
