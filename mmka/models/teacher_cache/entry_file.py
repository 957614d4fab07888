"""The file of one cached image: a JSON header and the raw bytes of its tensors.

Layout: ``MAGIC`` (8 bytes), the header length (8 bytes, little endian), the UTF-8 JSON
header, the tensors' bytes back to back, and a CRC-32 (4 bytes) of everything before it.
The header holds the cache fingerprint and the image key the file was written for, the
structure of the entry with each tensor replaced by ``{"t": i}``, and each tensor's
dtype / shape / offset.

A raw layout rather than ``torch.save``: reading is one ``read`` and a few
``torch.frombuffer`` views (no unpickling, nothing executable in a cache file), so a
training step pays about 0.1 ms per image and teacher for it, and a file that is truncated,
corrupted or written for another teacher or image is detected, not served.
"""
import json
import os
import struct
import zlib
from typing import List

import torch
from torch import Tensor

from .per_image import PLAIN_TYPES, Entry

MAGIC = b'MMKATC01'
DTYPES = {str(d).split('.')[-1]: d for d in (
    torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.bool, torch.uint8,
    torch.int32, torch.int64)}


class CacheFileError(ValueError):
    """A cache file that cannot be served: corrupt, truncated, or written for other inputs."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f'Teacher cache file {path!r} {reason}. Delete it (or the whole '
                         'cache directory) to have it recomputed.')


def write_entry(path: str, entry: Entry, fingerprint: str, key: str) -> None:
    """Write ``entry`` atomically: to a private temporary file, then ``os.replace``.

    Two processes writing the same image (DDP samplers pad the last batch with repeated
    images) each write their own temporary file; the rename makes one of the two identical
    files win, and a reader never sees a half-written file.
    """
    tensors: List[Tensor] = []
    tree = {name: [_encode(out, tensors), None if kw is None else _encode(kw, tensors)]
            for name, (out, kw) in entry.items()}
    chunks, specs, offset = [], [], 0
    for tensor in tensors:
        data = tensor.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy()
        chunks.append(data.tobytes())
        specs.append(dict(dtype=str(tensor.dtype).split('.')[-1], shape=list(tensor.shape),
                          offset=offset))
        offset += data.size
    payload = b''.join(chunks)
    header = json.dumps(dict(fingerprint=fingerprint, key=key, tree=tree, tensors=specs,
                             payload_bytes=len(payload)), separators=(',', ':')).encode()
    body = MAGIC + struct.pack('<Q', len(header)) + header + payload
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(body + struct.pack('<I', zlib.crc32(body)))
    os.replace(tmp, path)


def read_entry(path: str, fingerprint: str, key: str) -> Entry:
    """The entry in ``path``, tensors on the CPU in their stored dtypes.

    Raises:
        CacheFileError: the file is not a cache file, is truncated or corrupt, or was
            written for another fingerprint (teacher setup) or image key.
    """
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 20 or data[:8] != MAGIC:
        raise CacheFileError(path, 'is not an mmka teacher cache file (bad magic bytes)')
    body, (crc, ) = data[:-4], struct.unpack('<I', data[-4:])
    if zlib.crc32(body) != crc:
        raise CacheFileError(path, 'is truncated or corrupt (CRC-32 mismatch)')
    (length, ) = struct.unpack('<Q', body[8:16])
    try:
        header = json.loads(body[16:16 + length])
        specs, tree = header['tensors'], header['tree']
    except (ValueError, KeyError, TypeError) as err:
        raise CacheFileError(path, f'has an unreadable header ({err})') from err
    if header.get('fingerprint') != fingerprint:
        raise CacheFileError(path, 'was written for another teacher setup (fingerprint '
                             f"{header.get('fingerprint')!r}, expected {fingerprint!r})")
    if header.get('key') != key:
        raise CacheFileError(path, f"belongs to another image ({header.get('key')!r}, "
                             f'expected {key!r})')
    payload = bytearray(body[16 + length:])
    if len(payload) != header.get('payload_bytes'):
        raise CacheFileError(path, 'has a payload of the wrong size')
    try:
        tensors = [_tensor(payload, spec, path) for spec in specs]
        return {name: (_decode(out, tensors), None if kw is None else _decode(kw, tensors))
                for name, (out, kw) in tree.items()}
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as err:
        if isinstance(err, CacheFileError):
            raise
        raise CacheFileError(path, f'has a malformed header ({err!r})') from err


def _tensor(payload: bytearray, spec: dict, path: str) -> Tensor:
    dtype = DTYPES.get(spec['dtype'])
    if dtype is None:
        raise CacheFileError(path, f"holds a tensor of unsupported dtype {spec['dtype']!r}")
    shape = spec['shape']
    count = 1
    for size in shape:
        count *= size
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(payload, dtype=dtype, count=count,
                            offset=spec['offset']).reshape(shape)


def _encode(value, tensors: List[Tensor]):
    """JSON structure of ``value`` with each tensor replaced by ``{"t": index}``."""
    if isinstance(value, Tensor):
        tensors.append(value)
        return {'t': len(tensors) - 1}
    if isinstance(value, dict):
        return {'d': {k: _encode(v, tensors) for k, v in value.items()}}
    if isinstance(value, (tuple, list)):
        return {'tuple' if isinstance(value, tuple) else 'list':
                [_encode(v, tensors) for v in value]}
    assert isinstance(value, PLAIN_TYPES), type(value)  # per_image accepts nothing else
    return {'v': value}


def _decode(node: dict, tensors: List[Tensor]):
    (kind, value), = node.items()
    if kind == 't':
        return tensors[value]
    if kind == 'd':
        return {k: _decode(v, tensors) for k, v in value.items()}
    if kind in ('tuple', 'list'):
        items = [_decode(v, tensors) for v in value]
        return tuple(items) if kind == 'tuple' else items
    return value

