"""Split a batch of recorded teacher outputs into per-image entries, and stack them back.

A *record* is what one recorded submodule of a teacher produced in one forward: its output
(a tensor or a tuple/list of tensors) and, if recorded, the keyword arguments of the call.
An *entry* is the same for one image: ``{name: (output, kwargs)}`` with the batch dimension
removed.

Where the batch dimension is: mmdet's DETR heads return one tensor per decoder layer
stacked first, ``(L, B, m, K)`` logits and ``(L, B, m, 4)`` boxes, so a ``bbox_head``
output has it at dim 1; every other module a hook records in a DETR (necks, encoder and
its layers) returns batch-first tensors, and so are the tensor arguments of their calls.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

Nested = Union[Tensor, tuple, list, None, bool, int, float, str]
Record = Tuple[Nested, Optional[dict]]
Entry = Dict[str, Record]

#: Plain values allowed in a recorded output or call beside tensors (kept as they are).
PLAIN_TYPES = (type(None), bool, int, float, str)


def batch_dim(name: str) -> int:
    """The batch dimension of the tensors a recorded submodule outputs (see module doc)."""
    return 1 if name.split('.')[-1] == 'bbox_head' else 0


def split_batch(records: Dict[str, Record], batch_size: int) -> List[Entry]:
    """``{name: (output, kwargs)}`` of a batch of ``batch_size`` -> one entry per image."""
    entries: List[Entry] = [{} for _ in range(batch_size)]
    for name, (output, kwargs) in records.items():
        outputs = _split(output, batch_dim(name), batch_size, name)
        if kwargs is None:
            per_image = [None] * batch_size
        else:
            per_image = [dict(zip(kwargs, values)) for values in zip(*(
                _split(value, 0, batch_size, f'{name}({key}=...)')
                for key, value in kwargs.items()))] if kwargs else [{}] * batch_size
        for entry, out, kw in zip(entries, outputs, per_image):
            entry[name] = (out, kw)
    return entries


def stack_images(entries: Sequence[Entry], device: torch.device,
                 dtype: torch.dtype = torch.float32) -> Dict[str, Record]:
    """Per-image entries (in batch order) -> batch records on ``device``.

    Floating tensors are cast to ``dtype`` (the losses read targets in float32); masks and
    indices keep theirs.
    """
    records = {}
    for name in entries[0]:
        outputs = [entry[name][0] for entry in entries]
        output = _stack(outputs, batch_dim(name), device, dtype)
        kwargs = entries[0][name][1]
        if kwargs is not None:
            kwargs = {key: _stack([entry[name][1][key] for entry in entries], 0, device, dtype)
                      for key in kwargs}
        records[name] = (output, kwargs)
    return records


def _split(value: Nested, dim: int, batch_size: int, where: str) -> list:
    if isinstance(value, Tensor):
        if value.dim() <= dim or value.shape[dim] != batch_size:
            raise ValueError(
                f'Cannot cache {where}: a recorded tensor of shape {tuple(value.shape)} has no '
                f'batch dimension of size {batch_size} at dim {dim}.')
        return list(value.unbind(dim))
    if isinstance(value, (tuple, list)):
        parts = [_split(v, dim, batch_size, where) for v in value]
        return [type(value)(items) for items in zip(*parts)] if parts \
            else [type(value)()] * batch_size
    if isinstance(value, PLAIN_TYPES):
        return [value] * batch_size
    raise TypeError(f'Cannot cache {where}: it holds a {type(value).__name__}; only tensors, '
                    'tuples and lists of them, and plain numbers or strings are cached.')


def _stack(values: list, dim: int, device: torch.device, dtype: torch.dtype) -> Nested:
    first = values[0]
    if isinstance(first, Tensor):
        stacked = torch.stack([v.to(device) for v in values], dim)
        return stacked.to(dtype) if stacked.is_floating_point() else stacked
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([v[i] for v in values], dim, device, dtype)
                           for i in range(len(first)))
    return first
