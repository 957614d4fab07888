"""Untrained quick DINO rows for the tests of scripts that read trained Table I rows."""
import os

import torch

from .test_reproduce_table1 import load


def quick_dino_row(tmp_path, row: str, with_data: bool = True):
    """A quick DINO Table I row set up for a script that reads trained rows, untrained.

    The teachers' checkpoints are empty files (such scripts only check that they exist) and
    the row's work dir exists, without a checkpoint. ``with_data`` generates the quick
    dataset under ``tmp_path / 'data'``.

    Returns:
        tuple: the arguments naming the family, size, work dir and data root (the script
        must get the same ones) and the row's seed-0 job config.
    """
    table1 = load('reproduce_table1')
    from mmka.utils import last_checkpoint
    common = ['--family', 'dino', '--size', 'quick', '--work-dir', str(tmp_path / 'work'),
              '--data-root', str(tmp_path / 'data')]
    args = table1.parse_args(common)
    if with_data:
        size = table1.SIZES[args.size]
        table1.ensure_shapes_dataset(args.data_root, num_train=size['num_train'],
                                     num_val=size['num_val'])
    teachers = table1.teacher_jobs(args)
    for cfg in teachers:
        os.makedirs(cfg.work_dir, exist_ok=True)
        open(last_checkpoint(cfg), 'w').close()
    cfg = table1.student_job(row, args, teachers, 0)
    os.makedirs(cfg.work_dir)
    return common, cfg


def save_initial_weights(cfg) -> dict:
    """Save the row's detector at seeded initial weights as its final checkpoint, standing
    for its training; returns the state dict.

    init_weights: without it DINO's level_embed (an nn.Parameter of torch.Tensor(...)) is
    whatever memory it was given, sometimes NaN, which the benchmarks report as it is.
    Seeded so the weights do not depend on how much randomness earlier tests drew.
    """
    from mmka.utils import last_checkpoint
    from mmka.utils.analysis import build_detector, detector_cfg
    with torch.random.fork_rng():
        torch.manual_seed(0)
        detector = build_detector(detector_cfg(cfg))
        detector.init_weights()
        state_dict = detector.state_dict()
    torch.save(dict(state_dict=state_dict), last_checkpoint(cfg))
    return state_dict
