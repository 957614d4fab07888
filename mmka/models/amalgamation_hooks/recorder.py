"""Record the outputs of named submodules with PyTorch forward hooks."""
from typing import Dict, Iterable

import torch.nn as nn


class OutputRecorder:
    """Keeps the latest output of each named submodule of ``model``.

    The amalgamation hooks read intermediate sequences this way instead of re-implementing
    any detector's forward: ``recorder[name]`` is what ``model.get_submodule(name)`` returned
    in the most recent forward pass (with its autograd graph, if it has one).

    Args:
        model (nn.Module): the teacher or the student.
        names (Iterable[str]): submodule names, e.g. ``'neck'``, ``'encoder.layers.1'``.
    """

    def __init__(self, model: nn.Module, names: Iterable[str]) -> None:
        self.outputs: Dict[str, object] = {}
        self._handles = []
        for name in names:
            try:
                module = model.get_submodule(name)
            except AttributeError as err:
                raise ValueError(f'{type(model).__name__} has no submodule {name!r} to '
                                 'record.') from err
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def record(module, args, output):
            self.outputs[name] = output
        return record

    def __getitem__(self, name: str):
        if name not in self.outputs:
            raise KeyError(f'{name!r} has not run in this forward pass.')
        return self.outputs[name]

    def clear(self) -> None:
        """Drop the recorded tensors (and the graphs they hold) after each step."""
        self.outputs.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
