"""What a results file needs to be reproduced: the code version, the seeds, teacher precision."""
import os
import os.path as osp
import platform
import subprocess
from typing import Dict, Iterable, List, Mapping, Optional

#: The repository mmka is installed from (editable install: the checkout itself).
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def mmka_commit(repo: str = REPO) -> str:
    """``git rev-parse --short HEAD`` of ``repo``, plus ``'+dirty'`` with uncommitted changes.

    Only tracked files count as changes (untracked files, e.g. work dirs, do not). Returns
    ``'unknown'`` when git is missing or ``repo`` is not a git checkout (an installed wheel).
    """
    try:
        commit = _git(repo, 'rev-parse', '--short', 'HEAD')
        dirty = _git(repo, 'status', '--porcelain', '--untracked-files=no')
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return commit + ('+dirty' if dirty else '')


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else the architecture."""
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f if 'model name' in line)
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> str:
    """The machine of a results file, e.g. ``'Intel Xeon ..., 2 cores, torch 2.13.0'``."""
    import torch  # here: the rest of this module must not need torch
    return f'{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}'


def _git(repo: str, *args: str) -> str:
    return subprocess.run(['git', '-C', repo, *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def teacher_precision(cfg) -> Optional[str]:
    """The precision a config's teachers run in, or None if its model has no teachers.

    An amalgamator or distiller (``model.teachers`` / ``model.teacher``, also
    ``TeacherEnsemble``) runs them in ``model.teacher_dtype`` when set (what
    :func:`mmka.utils.use_cheap_teachers` picks: ``'bfloat16'`` on CPUs with native bf16);
    otherwise in the ambient precision: the AMP dtype under ``AmpOptimWrapper`` in training,
    ``'float32'`` everywhere else.

    Args:
        cfg (Config | dict): a full config (``model``, ``optim_wrapper``).
    """
    model = cfg['model']
    if 'teachers' not in model and 'teacher' not in model:
        return None
    if model.get('teacher_dtype'):
        return str(model['teacher_dtype'])
    optim = cfg.get('optim_wrapper') or {}
    if optim.get('type') == 'AmpOptimWrapper':
        return f"{optim.get('dtype') or 'float16'} (AMP)"
    return 'float32'


def provenance(seeds: Iterable[int],
               precisions: Optional[Mapping[str, Optional[str]]] = None,
               commit: Optional[str] = None) -> str:
    """One line for a results file, e.g. ``'mmka 7816fd8+dirty; seed 0; teachers bfloat16'``.

    Args:
        seeds (Iterable[int]): the seeds used (``randomness.seed`` / ``torch.manual_seed``).
        precisions (Mapping[str, str | None], optional): the teachers' precision
            (:func:`teacher_precision`) of every model reported, by name; None for a model
            without teachers. One precision is stated alone; several name their models:
            ``'teachers float32 for `Ensemble`; bfloat16 for `Student`'``. Without any model
            with teachers: ``'no teachers'``. None (the default) leaves the part out.
        commit (str, optional): the commit to state, e.g. :func:`mmka_commit` taken when a
            long run started (a commit made during the run must not be credited with its
            results); None (the default) reads HEAD now.
    """
    seeds = list(seeds)
    line = f"mmka {commit or mmka_commit()}; seed{'s' if len(seeds) > 1 else ''} " + \
        ', '.join(map(str, seeds))
    if precisions is None:
        return line
    groups: Dict[str, List[str]] = {}
    for name, precision in precisions.items():
        if precision is not None:
            groups.setdefault(precision, []).append(name)
    if not groups:
        return line + '; no teachers'
    if len(groups) == 1:
        return line + f'; teachers {next(iter(groups))}'
    named = [precision + ' for ' + ', '.join(f'`{name}`' for name in names)
             for precision, names in groups.items()]
    return line + '; teachers ' + '; '.join(named)
