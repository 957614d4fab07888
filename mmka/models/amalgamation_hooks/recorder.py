"""Record the outputs of named submodules with PyTorch forward hooks."""
from typing import Dict, Iterable, List, Optional

import torch.nn as nn


class OutputRecorder:
    """Keeps the latest output of each named submodule of ``model``.

    The amalgamation hooks read intermediate sequences this way instead of re-implementing
    any detector's forward: ``recorder[name]`` is what ``model.get_submodule(name)`` returned
    in the most recent forward pass (with its autograd graph, if it has one).

    Args:
        model (nn.Module): the teacher or the student.
        names (Iterable[str]): submodule names, e.g. ``'neck'``, ``'encoder.layers.1'``.
        with_kwargs (bool): also keep the keyword arguments of each call in
            :attr:`kwargs` (e.g. a decoder's ``key``, ``key_pos``, ``key_padding_mask``).
    """

    def __init__(self, model: nn.Module, names: Iterable[str],
                 with_kwargs: bool = False) -> None:
        self.names: List[str] = list(names)
        self.with_kwargs = with_kwargs
        self.outputs: Dict[str, object] = {}
        self.kwargs: Dict[str, dict] = {}
        self._handles = []
        for name in self.names:
            try:
                module = model.get_submodule(name)
            except AttributeError as err:
                raise ValueError(f'{type(model).__name__} has no submodule {name!r} to '
                                 'record.') from err
            self._handles.append(
                module.register_forward_hook(self._hook(name), with_kwargs=with_kwargs))

    def _hook(self, name: str):
        # PyTorch calls (module, args, output), or (module, args, kwargs, output) with kwargs.
        def record(module, args, *kwargs_and_output):
            if len(kwargs_and_output) == 2:
                self.kwargs[name] = kwargs_and_output[0]
            self.outputs[name] = kwargs_and_output[-1]
        return record

    def __getitem__(self, name: str):
        if name not in self.outputs:
            raise KeyError(f'{name!r} has not run in this forward pass.')
        return self.outputs[name]

    def replay(self, name: str, output, kwargs: Optional[dict] = None) -> None:
        """Store ``output`` (and call ``kwargs``) as if ``name`` had just run.

        The teacher output cache serves recorded outputs this way instead of running the
        teacher (see :class:`~mmka.models.teacher_cache.TeacherOutputCache`).
        """
        self.outputs[name] = output
        if self.with_kwargs:
            self.kwargs[name] = kwargs

    def clear(self) -> None:
        """Drop the recorded tensors (and the graphs they hold) after each step."""
        self.outputs.clear()
        self.kwargs.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
