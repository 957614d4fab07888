"""Serve frozen teachers' recorded outputs from disk instead of running the teachers."""
import copy
import hashlib
import json
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import Config
from torch import Tensor

from mmdet.structures import SampleList
from ...version import __version__
from ..amalgamation_hooks.recorder import OutputRecorder
from .per_image import Entry, split_batch, stack_images
from .pipeline_check import MODES, check_cacheable_pipeline
from .store import TeacherStore, file_sha256, image_key

#: Bumped whenever what a cache file holds changes meaning.
CACHE_FORMAT = 1
STORAGE_DTYPES = ('float16', 'bfloat16', 'float32')
FP16_MAX = torch.finfo(torch.float16).max


class TeacherOutputCache:
    """What the amalgamation hooks record from each teacher, stored per image and reused.

    Frozen teachers in eval mode give the same outputs for the same input every epoch. The
    first time an image is seen, its teachers run as usual and everything recorded from
    them (by every :class:`OutputRecorder` on the teacher: SA sequences, TA head outputs,
    the compression guide, KD-DETR's encoder memory) is written to ``dir``, one file per
    teacher and image. Later steps read the files and replay the outputs into the recorders
    without running the teachers. A batch with some images cached runs the teachers on the
    others only (each image's outputs are independent of the rest of the batch: eval-mode
    BatchNorm, and attention masked per image), so a resumed or partly filled cache is used
    as far as it goes.

    **Keys.** An entry belongs to one teacher input: the image (id, path, and the file's
    size and mtime), what the transforms did to it (``img_shape``, ``scale_factor``,
    ``flip``, ``flip_direction``) and the padded batch shape (``batch_input_shape``: the
    teacher's feature maps and padding depend on it). Each teacher's directory carries a
    fingerprint of the checkpoint's SHA-256, the model config, the teacher precision, the
    storage dtype, the recorded modules and the mmka version; another fingerprint is an
    error that names ``meta.json``. A truncated, corrupt or foreign entry file is an error
    that names the file (:class:`CacheFileError`). Nothing stale is served silently.

    **Pipelines.** Random transforms change the teachers' input from epoch to epoch;
    :meth:`check_pipeline` (called by :class:`TeacherCacheHook` before training) refuses
    them, except random flips and resizes with ``mode='per_outcome'``. The cache is unusable
    until the pipeline has been checked.

    **Precision.** Floating outputs are stored in ``dtype`` and served as float32 (what
    every loss reads). float16 keeps 11 significant bits: relative error <= 2^-11 per value.

    **DDP.** Each rank reads and writes the images of its own batches; writes are atomic
    (private temporary file, then rename), so ranks never see each other's partial files.

    Args:
        dir (str): cache directory; teacher i uses ``<dir>/teacher<i>``.
        teachers (Sequence[dict]): the distiller's teacher entries
            (``config``, ``checkpoint``), for the fingerprints.
        dtype (str): storage dtype of floating outputs: ``'float16'`` (default; half the
            bytes), ``'bfloat16'`` (range of float32, 8 bits) or ``'float32'`` (exact).
        mode (str): ``'deterministic'`` (default) or ``'per_outcome'``, see
            :data:`~mmka.models.teacher_cache.pipeline_check.MODES`.
        teacher_dtype (str, optional), teacher_channels_last (bool): the distiller's
            teacher precision options (part of the fingerprint).
    """

    def __init__(self, dir: str, teachers: Sequence[dict], dtype: str = 'float16',
                 mode: str = 'deterministic', teacher_dtype: Optional[str] = None,
                 teacher_channels_last: bool = False) -> None:
        if not isinstance(dir, str) or not dir:
            raise TypeError(f'teacher_cache.dir must be a directory path, got {dir!r}.')
        if dtype not in STORAGE_DTYPES:
            raise ValueError(f'teacher_cache.dtype must be one of {STORAGE_DTYPES}, got '
                             f'{dtype!r}.')
        if mode not in MODES:
            raise ValueError(f'teacher_cache.mode must be one of {MODES}, got {mode!r}.')
        self.dir = dir
        self.dtype = dtype
        self.mode = mode
        self._teachers = [dict(checkpoint=t['checkpoint'], config=t['config']) for t in teachers]
        self._precision = dict(teacher_dtype=teacher_dtype,
                               teacher_channels_last=teacher_channels_last)
        self._records: List[Dict[str, bool]] = []
        self._stores: Optional[List[TeacherStore]] = None
        self.recorders: List[List[OutputRecorder]] = []
        self.pipeline_checked = False
        self.stats = dict(hits=0, misses=0, bytes_written=0, fill_seconds=0.0,
                          read_seconds=0.0)

    def attach(self, recorders: Sequence[Sequence[OutputRecorder]]) -> None:
        """Bind the recorders on each teacher (called once, after the hooks' setup).

        What is cached for teacher i is the union of what ``recorders[i]`` record: each
        recorded module, and whether its call arguments are recorded too.
        """
        assert len(recorders) == len(self._teachers), 'one recorder list per teacher'
        self.recorders = [list(r) for r in recorders]
        for i, recs in enumerate(self.recorders):
            records: Dict[str, bool] = {}
            for rec in recs:
                for name in rec.names:
                    records[name] = records.get(name, False) or rec.with_kwargs
            if not records:
                raise ValueError(f'Nothing is recorded from teacher {i}: no amalgamation '
                                 'hook reads it, so there is nothing to cache.')
            self._records.append(records)

    @property
    def stores(self) -> List[TeacherStore]:
        """Each teacher's directory, opened (and its fingerprint checked) on first use.

        Not when the model is built: evaluating a student (``tools/test.py`` on the
        amalgamation config) neither reads the cache nor hashes the teachers' checkpoints.
        """
        if self._stores is None:
            self._stores = [
                TeacherStore(osp.join(self.dir, f'teacher{i}'), dict(
                    format=CACHE_FORMAT, mmka_version=__version__,
                    checkpoint_sha256=file_sha256(t['checkpoint']),
                    model_config_sha256=_config_sha256(t['config']), storage_dtype=self.dtype,
                    records=records, **self._precision))
                for i, (t, records) in enumerate(zip(self._teachers, self._records))]
        return self._stores

    def check_pipeline(self, transforms) -> None:
        """Refuse a pipeline whose random transforms the cache cannot key (see ``mode``)."""
        check_cacheable_pipeline(transforms, self.mode)
        self.pipeline_checked = True

    def run(self, data_samples: SampleList, device: torch.device,
            run_teacher: Callable[[int, List[int]], None]) -> None:
        """Fill every teacher's recorders for this batch, from disk where possible.

        Args:
            data_samples (list[DetDataSample]): the batch (metainfo gives the keys).
            device (torch.device): where the replayed tensors go.
            run_teacher (callable): ``run_teacher(i, indices)`` forwards teacher i on the
                images ``indices`` of the batch (as far as the hooks read), so that its
                recorders hold their outputs.
        """
        if not self.pipeline_checked:
            raise RuntimeError(
                'The teacher output cache has not checked the training pipeline for random '
                "transforms: add custom_hooks=[dict(type='TeacherCacheHook')] to the config "
                "(mmka's tools/train.py adds it), or call check_pipeline(transforms).")
        keys = [image_key(s.metainfo) for s in data_samples]
        for i, store in enumerate(self.stores):
            start = time.perf_counter()
            entries: List[Optional[Entry]] = [store.read(k) for k in keys]
            self.stats['read_seconds'] += time.perf_counter() - start
            missing = [b for b, entry in enumerate(entries) if entry is None]
            self.stats['hits'] += len(keys) - len(missing)
            self.stats['misses'] += len(missing)
            if missing:
                start = time.perf_counter()
                run_teacher(i, missing)
                fresh = split_batch(self._recorded(i), len(missing))
                for b, entry in zip(missing, fresh):
                    self.stats['bytes_written'] += store.write(keys[b], self._stored(entry))
                    entries[b] = entry
                self.stats['fill_seconds'] += time.perf_counter() - start
                if len(missing) == len(keys):
                    continue  # the recorders already hold the whole batch
            self._replay(i, stack_images(entries, device))

    def _recorded(self, i: int) -> dict:
        """``{name: (output, kwargs)}`` of teacher i, from the recorders' latest forward."""
        records = {}
        for rec in self.recorders[i]:
            for name in rec.names:
                kwargs = rec.kwargs.get(name) if rec.with_kwargs else None
                if name not in records or (kwargs is not None and records[name][1] is None):
                    records[name] = (rec[name], kwargs)
        return records

    def _stored(self, entry: Entry) -> Entry:
        return {name: (_to_storage(out, self.dtype), _to_storage(kw, self.dtype))
                for name, (out, kw) in entry.items()}

    def _replay(self, i: int, records: dict) -> None:
        for rec in self.recorders[i]:
            for name in rec.names:
                rec.replay(name, *records[name])


def _to_storage(value, dtype: str):
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            return value
        if dtype == 'float16' and value.numel() and value.abs().max() > FP16_MAX:
            raise ValueError(
                f'A teacher output reaches {value.abs().max().item():.3g}, beyond float16; '
                "set teacher_cache.dtype='bfloat16' or 'float32'.")
        return value.to(getattr(torch, dtype))
    if isinstance(value, dict):
        return {k: _to_storage(v, dtype) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to_storage(v, dtype) for v in value)
    return value


def _config_sha256(config: Union[str, dict]) -> str:
    """SHA-256 of a teacher's model config, as built (file or dict)."""
    cfg = Config.fromfile(config) if isinstance(config, str) \
        else Config(copy.deepcopy(dict(config)))
    model = cfg.model if 'model' in cfg else cfg
    text = json.dumps(model.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
