"""One teacher's cache directory: its fingerprint, and one file per image and input."""
import hashlib
import json
import os
import os.path as osp
from typing import Optional

from .entry_file import read_entry, write_entry
from .per_image import Entry

META_FILE = 'meta.json'
#: Metainfo that describes what reached the teacher: the image, the transforms' outcome
#: (resize, flip) and the padded batch shape. Crops and photometric changes leave no trace
#: here, which is why random ones are refused (see ``pipeline_check``).
KEY_FIELDS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
              'flip_direction', 'batch_input_shape')


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def image_key(metainfo: dict) -> str:
    """A canonical string naming one input of a teacher (see :data:`KEY_FIELDS`).

    The image file's size and modification time are part of it when the file is local, so a
    regenerated dataset at the same path is recomputed rather than served stale.
    """
    if metainfo.get('img_id') is None and metainfo.get('img_path') is None:
        raise ValueError('The teacher cache names images by img_id or img_path, and this '
                         'sample has neither in its metainfo (PackDetInputs keeps both by '
                         'default; keep them in meta_keys).')
    fields = {k: _plain(metainfo.get(k)) for k in KEY_FIELDS}
    path = metainfo.get('img_path')
    if isinstance(path, str) and osp.isfile(path):
        stat = os.stat(path)
        fields['file'] = [stat.st_size, stat.st_mtime_ns]
    return json.dumps(fields, sort_keys=True, separators=(',', ':'))


def _plain(value):
    """Metainfo values (tuples, numpy scalars and arrays) as JSON-able Python values."""
    if hasattr(value, 'tolist'):
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return float(f'{value:.9g}')  # numpy / torch float round trips differ in the last bits
    return value


class TeacherStore:
    """The cache directory of one teacher.

    ``<dir>/meta.json`` holds the fingerprint fields (what makes the teacher's outputs what
    they are: checkpoint hash, model config, precision, storage dtype, recorded modules,
    mmka version). Opening a directory with other fields is an error naming the file and
    the fields that differ: a cache is never served to another teacher. Entries are
    ``<dir>/<h[:2]>/<h>.bin``, h the SHA-1 of the image key.

    Args:
        directory (str): the teacher's directory (created if missing).
        fields (dict): the fingerprint fields (JSON-able).
    """

    def __init__(self, directory: str, fields: dict) -> None:
        self.directory = directory
        self.fields = dict(fields)
        self._folders = set()  # entry folders known to exist
        self.fingerprint = hashlib.sha256(
            json.dumps(self.fields, sort_keys=True).encode()).hexdigest()[:16]
        os.makedirs(directory, exist_ok=True)
        meta = osp.join(directory, META_FILE)
        if osp.isfile(meta):
            self._check_meta(meta)
        else:  # atomic: ranks racing here write identical files
            tmp = f'{meta}.tmp{os.getpid()}'
            with open(tmp, 'w') as f:
                json.dump(dict(self.fields, fingerprint=self.fingerprint), f, indent=1,
                          sort_keys=True)
            os.replace(tmp, meta)

    def _check_meta(self, meta: str) -> None:
        try:
            with open(meta) as f:
                stored = json.load(f)
            stored.pop('fingerprint')
        except (ValueError, KeyError, AttributeError) as err:
            raise ValueError(f'Teacher cache metadata {meta!r} is unreadable ({err!r}); delete '
                             f'{self.directory!r} to rebuild the cache.') from err
        differ = sorted(k for k in set(stored) | set(self.fields)
                        if stored.get(k) != self.fields.get(k))
        if differ:
            detail = '; '.join(f'{k}: {stored.get(k)!r} there, {self.fields.get(k)!r} now'
                               for k in differ)
            raise ValueError(
                f'Teacher cache {meta!r} was filled for another teacher setup ({detail}). '
                f'Delete {self.directory!r} or set teacher_cache.dir to a new directory.')

    def path(self, key: str) -> str:
        name = hashlib.sha1(key.encode()).hexdigest()
        return osp.join(self.directory, name[:2], name + '.bin')

    def read(self, key: str) -> Optional[Entry]:
        """The entry for ``key``, or None if it is not cached yet."""
        path = self.path(key)
        if not osp.isfile(path):
            return None
        return read_entry(path, self.fingerprint, key)

    def write(self, key: str, entry: Entry) -> int:
        """Store ``entry``; returns the file size in bytes."""
        path = self.path(key)
        folder = osp.dirname(path)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        write_entry(path, entry, self.fingerprint, key)
        return osp.getsize(path)
