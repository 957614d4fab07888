"""The cache file format: round trip, and every way a file can fail to be served."""
import os

import pytest
import torch

from mmka.models.teacher_cache import CacheFileError
from mmka.models.teacher_cache.entry_file import MAGIC, read_entry, write_entry


def entry():
    g = torch.Generator().manual_seed(0)
    return {
        'neck': ((torch.randn(8, 4, 4, generator=g).half(), ), None),
        'bbox_head': ((torch.randn(2, 5, 3, generator=g).bfloat16(),
                       torch.rand(2, 5, 4, generator=g)), None),
        'encoder': (torch.randn(16, 8, generator=g),
                    dict(key_padding_mask=torch.rand(16, generator=g) > 0.5,
                         query_pos=torch.randn(16, 8, generator=g), scale=None, n=3)),
        'empty': (torch.zeros(0, 4, dtype=torch.int64), {}),
    }


def test_round_trip_keeps_values_dtypes_and_structure(tmp_path):
    path = str(tmp_path / 'e.bin')
    original = entry()
    write_entry(path, original, 'fp', 'key')
    loaded = read_entry(path, 'fp', 'key')
    assert list(loaded) == list(original)
    assert isinstance(loaded['neck'][0], tuple) and loaded['neck'][1] is None
    for name in ('neck', 'bbox_head'):
        for a, b in zip(loaded[name][0], original[name][0]):
            assert a.dtype == b.dtype
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    out, kwargs = loaded['encoder']
    torch.testing.assert_close(out, original['encoder'][0], rtol=0, atol=0)
    assert kwargs['key_padding_mask'].dtype == torch.bool
    assert torch.equal(kwargs['key_padding_mask'], original['encoder'][1]['key_padding_mask'])
    assert kwargs['scale'] is None and kwargs['n'] == 3
    assert loaded['empty'][0].shape == (0, 4) and loaded['empty'][1] == {}
    assert not [f for f in os.listdir(tmp_path) if 'tmp' in f]  # written atomically


@pytest.mark.parametrize('damage, message', [
    (lambda data: data[:-3], 'truncated or corrupt'),
    (lambda data: data[:-1] + bytes([data[-1] ^ 1]), 'truncated or corrupt'),
    (lambda data: b'NOTMMKA!' + data[8:], 'bad magic'),
    (lambda data: data[:8], 'bad magic'),
    (lambda data: data[:20] + bytes([data[20] ^ 4]) + data[21:], 'truncated or corrupt'),
])
def test_damaged_file_is_an_error_naming_it(tmp_path, damage, message):
    path = str(tmp_path / 'e.bin')
    write_entry(path, entry(), 'fp', 'key')
    with open(path, 'rb') as f:
        data = f.read()
    assert data.startswith(MAGIC)
    with open(path, 'wb') as f:
        f.write(damage(data))
    with pytest.raises(CacheFileError, match=message) as err:
        read_entry(path, 'fp', 'key')
    assert path in str(err.value) and 'Delete it' in str(err.value)


def test_file_of_another_teacher_or_image_is_refused(tmp_path):
    path = str(tmp_path / 'e.bin')
    write_entry(path, entry(), 'fp', 'key')
    with pytest.raises(CacheFileError, match='another teacher setup'):
        read_entry(path, 'other', 'key')
    with pytest.raises(CacheFileError, match='another image'):
        read_entry(path, 'fp', 'other key')
    assert isinstance(CacheFileError(path, 'x'), ValueError)
