"""Which of a trained DINO's box branches learned anything: each decoder layer's box
branch against its initialisation.

    python benchmarks/box_branches.py [reproduce_table1.py's model options]
        [--only ROW ...] [--seeds 0 1] [--out FILE]

DINO refines its boxes layer by layer: decoder layer l adds the output of its own box branch
(``bbox_head.reg_branches[l-1]``, an MLP whose last Linear mmdet initialises to zero) to the
boxes of layer l-1, and hands the result to layer l+1 *detached*. Layer l's box branch is
therefore trained only by the losses on the boxes of layers l and l+1 (the latter through
its undetached reference, DINO's "look forward twice"). With ground truth every layer has a
loss; a label-free row (λ_d = 0) whose task amalgamation distils the last layer only trains
the last two branches, and the first stays a zero delta: its layer leaves the proposals'
boxes as they are. This script trains nothing: it reads the checkpoints of the rows that
``benchmarks/reproduce_table1.py`` trained with the same options (the same work dirs) and
gives, per (row, seed) and decoder layer, the largest absolute weight and bias of the box
branch's last Linear, "0 (as initialised)" where both are exactly zero (a parameter with no
gradient stays exactly zero under AdamW: no step, and decay of zero is zero), and the row's
all-class AP where ``reproduce_table1.py`` evaluated it. The two-stage proposal box branch
(the extra last ``reg_branches`` entry) is reported too. The results file (default
``benchmarks/results/box_branches_<table1 suffix>.md``) states the command, commit, machine
and date.
"""
import argparse
import datetime
import os.path as osp
import shlex
import sys
from typing import Dict, List, Optional, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import reproduce_table1 as table1  # noqa: E402  (the models and work dirs it trained)
from mmka.utils import machine, mmka_commit  # noqa: E402
from mmka.utils.analysis import detector_cfg, is_distiller_cfg  # noqa: E402
from compression_mismatch import cached_ap  # noqa: E402
from table1_rows import trained_student_jobs, trained_teacher_jobs  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Other options are reproduce_table1.py\'s and select its models.')
    _, args = table1.parse_reader_args(parser, argv, 'box_branches',
                                       '"SA+TA label-free, proposal TA"')
    return args


def box_branch_sizes(state_dict: Dict[str, torch.Tensor], prefix: str, num_layers: int,
                     two_stage: bool) -> List[Tuple[float, float]]:
    """``(max |weight|, max |bias|)`` of the last Linear of each box branch.

    Args:
        state_dict: a checkpoint's ``state_dict``.
        prefix: the detector's key prefix in it (``'student.'`` for an amalgamator).
        num_layers: the decoder's layers L.
        two_stage: the head has the proposal box branch as ``reg_branches[L]``.

    Returns:
        list: L entries, decoder layers 1..L, then the proposal branch's if ``two_stage``.

    Raises:
        ValueError: naming the prefix, if the state dict has no such box branch.
    """
    sizes = []
    for index in range(num_layers + int(two_stage)):
        branch = f'{prefix}bbox_head.reg_branches.{index}.'
        last = sorted({int(k[len(branch):].split('.')[0]) for k in state_dict
                       if k.startswith(branch) and k.endswith('.weight')})
        if not last:
            raise ValueError(f'No {branch}*.weight in the checkpoint; is it a DINO or '
                             f'Deformable DETR with {num_layers} decoder layers?')
        weight, bias = (state_dict[f'{branch}{last[-1]}.{p}'] for p in ('weight', 'bias'))
        sizes.append((float(weight.abs().max()), float(bias.abs().max())))
    return sizes


def measure(cfg, checkpoint: str) -> List[Tuple[float, float]]:
    """:func:`box_branch_sizes` of the detector (an amalgamator's student) of ``cfg``."""
    model = detector_cfg(cfg)
    if not model.get('with_box_refine', False):
        raise ValueError(f'{model.get("type")} does not refine boxes layer by layer; pass rows '
                         'of the DINO family (--family dino).')
    prefix = 'student.' if is_distiller_cfg(cfg.model) else ''
    state_dict = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    return box_branch_sizes(state_dict, prefix, model['decoder']['num_layers'],
                            bool(model.get('as_two_stage', False)))


def main(argv=None) -> List[Dict]:
    args = parse_args(argv)
    commit = mmka_commit()
    teachers = trained_teacher_jobs(args)
    records = []
    for name, seed, cfg, checkpoint in trained_student_jobs(args, teachers, 'box branches'):
        record = dict(row=name, seed=seed, work_dir=osp.basename(cfg.work_dir),
                      ap=cached_ap(args, cfg), sizes=measure(cfg, checkpoint))
        print(f'[box branches] {record}', flush=True)
        records.append(record)
    write_report(args, records, commit, argv)
    return records


def cell(size: Tuple[float, float]) -> str:
    weight, bias = size
    return '0 (as initialised)' if weight == 0 and bias == 0 else f'{weight:.3f} / {bias:.3f}'


def write_report(args, records: List[Dict], commit: str, argv=None) -> None:
    command = 'python benchmarks/box_branches.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    width = max((len(r['sizes']) for r in records), default=0)
    heads = [f'layer {i}' for i in range(1, width)] + ['proposals'] if width else []
    ap = lambda v: '—' if v is None else f'{100 * v:.1f}'  # noqa: E731
    lines = [
        "# Which of a DINO's box branches learned: each one's last Linear against its "
        'zero initialisation', '',
        f'`{command}`', '',
        f'mmka {commit}; {machine()}; {datetime.date.today().isoformat()}; '
        f'{args.family}, partition {args.partition}, size {args.size}, students '
        f'{args.student_epochs} epochs, teachers {args.teacher_epochs} epochs '
        f'({args.teacher_init}).', '',
        'Each cell: max |weight| / max |bias| of the box branch\'s last Linear in the final '
        'checkpoint; "0 (as initialised)": both exactly zero, so no loss ever reached it and '
        'that decoder layer leaves its input boxes unchanged. "layer l": decoder layer l\'s '
        'refinement; "proposals": the two-stage branch that places the encoder\'s proposals. '
        'AP: the row\'s all-class AP (reproduce_table1.py).', '',
        '| row | seed | ' + ' | '.join(heads) + ' | AP |',
        '|---|---|' + '---|' * (len(heads) + 1)]
    for r in records:
        lines.append(f"| {r['row']} | {r['seed']} | "
                     + ' | '.join(cell(s) for s in r['sizes']) + f" | {ap(r['ap'])} |")
    if not records:
        lines.append('| — | — | no trained row for these options |')
    lines += ['', 'Work dirs: ' + ', '.join(f"`{r['work_dir']}`" for r in records)]
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'[box branches] wrote {args.out}', flush=True)


if __name__ == '__main__':
    main()
