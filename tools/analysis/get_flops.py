"""Params and FLOPs of detectors (paper Table I's #params / FLOPs columns).

    python tools/analysis/get_flops.py CONFIG [CONFIG ...] [--shape H [W]] [--teachers]
        [--out flops.md] [--device cpu]

Any config: a teacher, a baseline, a KA student, an amalgamation / distillation config (its
student is counted; ``--teachers`` adds a row per teacher, built from its config, no
checkpoint needed), or a TeacherEnsemble config (its teachers and their sum). FLOPs are
counted by ``mmengine.analysis.get_model_complexity_info`` (via ``mmka.utils.complexity``,
as benchmarks/student_encoder.py) on one random H x W image, batch 1, backbone to head
without post-processing; one multiply-add counts as one FLOP.
The default shape is the test pipeline's ``Resize`` scale. The table is printed, and with
``--out`` also written as markdown.
"""
import argparse
import copy
import os
import os.path as osp
import shlex
import sys
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import mmka  # noqa: E402,F401  (registers mmka modules)
from mmka.utils.analysis import build_detector, detector_cfg, is_distiller_cfg  # noqa: E402
from mmka.utils.analysis import load_config  # noqa: E402
from mmka.utils.complexity import model_complexity  # noqa: E402

KEYS = ('params', 'flops', 'activations')
HEADER = '| config | model | role | input (H x W) | params | FLOPs |'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='+', help='config file(s)')
    parser.add_argument('--shape', type=int, nargs='+', default=None,
                        help='input H [W] (default: the test pipeline Resize scale)')
    parser.add_argument('--teachers', action='store_true',
                        help='also count the teachers of amalgamation configs')
    parser.add_argument('--out', help='also write the table to this markdown file')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    if args.shape is not None and (len(args.shape) not in (1, 2) or min(args.shape) < 1):
        parser.error(f'--shape takes H or H W, positive, got {args.shape}')
    return args


def input_shape(cfg, shape: Optional[Sequence[int]]) -> Tuple[int, int]:
    """(H, W) from ``--shape``, else from the test pipeline's ``Resize`` (scale is (W, H))."""
    if shape:
        return (shape[0], shape[-1])
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
    for step in pipeline:
        if step.get('type') == 'Resize' and step.get('scale') is not None:
            scale = step['scale']
            scale = (scale, scale) if isinstance(scale, int) else scale
            return (int(scale[1]), int(scale[0]))
    raise ValueError('The config has no test-pipeline Resize scale to take the input size '
                     'from; give --shape H W.')


def teacher_model_cfgs(cfg) -> List[dict]:
    """Model configs of an amalgamation config's teachers (paths or dicts, not modified)."""
    out = []
    for entry in cfg.model.get('teachers', []):
        config = entry['config']
        if isinstance(config, str):
            out.append(detector_cfg(load_config(config)))
        else:
            config = copy.deepcopy(dict(config))
            out.append(dict(config.get('model', config)))
    return out


def models_of(cfg, with_teachers: bool) -> List[Tuple[str, dict]]:
    """(role, model config) pairs to count for the loaded config ``cfg``."""
    if cfg.model.get('type') == 'TeacherEnsemble':  # the ensemble is its teachers
        return [(f'teacher {t + 1}', m) for t, m in enumerate(teacher_model_cfgs(cfg))]
    distiller = is_distiller_cfg(cfg.model)
    rows = [('student' if distiller else 'detector', detector_cfg(cfg))]
    if distiller and with_teachers:
        rows += [(f'teacher {t + 1}', m) for t, m in enumerate(teacher_model_cfgs(cfg))]
    return rows


def count(paths: Sequence[str], shape=None, with_teachers: bool = False,
          device: str = 'cpu') -> List[dict]:
    """One row per model: config, type, role, shape, params, flops, activations; a
    TeacherEnsemble config adds a row with its teachers' sums (paper Table I "Ensemble")."""
    rows = []
    for path in paths:
        cfg = load_config(path)
        size = input_shape(cfg, shape)
        first = len(rows)
        for role, model_cfg in models_of(cfg, with_teachers):
            model = build_detector(model_cfg, device=device)
            info = model_complexity(model, size, device)
            rows.append(dict(config=osp.basename(path), model=type(model).__name__, role=role,
                             shape=size, **info))
        if cfg.model.get('type') == 'TeacherEnsemble':
            sums = {k: sum(r[k] for r in rows[first:]) for k in KEYS}
            rows.append(dict(config=osp.basename(path), model='TeacherEnsemble',
                             role='ensemble (sum)', shape=size, **sums))
    return rows


def table(rows: List[dict]) -> str:
    """Markdown table of ``rows`` (params in M, FLOPs in G)."""
    lines = [HEADER, '|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r["config"]} | {r["model"]} | {r["role"]} | '
                     f'{r["shape"][0]} x {r["shape"][1]} | {r["params"] / 1e6:.3f} M | '
                     f'{r["flops"] / 1e9:.3f} G |')
    return '\n'.join(lines)


def main(argv=None) -> List[dict]:
    command = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(command)
    rows = count(args.configs, args.shape, args.teachers, args.device)
    text = table(rows)
    print(text)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write('# Params and FLOPs\n\n'
                    f'`python tools/analysis/get_flops.py {shlex.join(command)}`\n\n'
                    'mmengine get_model_complexity_info, batch 1, one multiply-add = one '
                    'FLOP, no post-processing.\n\n' + text + '\n')
        print(f'saved {args.out}')
    return rows


if __name__ == '__main__':
    main()
