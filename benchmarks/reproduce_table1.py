"""Paper Table I / IV / V and Fig. 4 in miniature on the embedded shapes data.

    python benchmarks/reproduce_table1.py [--partition shapes_2t|shapes_4t]
        [--family conditional-detr|dino] [--size quick|medium|full]
        [--teacher-epochs E] [--student-epochs E] [--seeds 0 [1 ...]] [--only [NAME ...]]
        [--teacher-init scratch|pretrained [--pretrained-raw] [--pretrained-student]]
        [--compute-matched]
        [--report-only | --train-only] [--jobs J]
        [--work-dir work_dirs/table1]
        [--out benchmarks/results/table1_<...>.md]

Trains (or reuses) the teachers of the partition, then, all at one schedule, the students
of the family (:data:`table1_rows.FAMILIES`): the tiny Conditional DETR (default;
:data:`table1_rows.STUDENTS`: Raw, Raw_ext, Student = SA+TA+GT, Student_slim and the
ablations) or the tiny DINO (:data:`table1_rows.DINO_STUDENTS`: the same rows under the
same names; shapes_2t, or shapes_4t for Table IV with DINO: the tiny DINO teachers
``t{1..4}of4``). Schedule: the size's epochs (:data:`table1_rows.SIZES`), or
``--teacher-epochs`` / ``--student-epochs`` (e.g. the schedule S that
``benchmarks/schedule_plateau.py`` measured), lr step at 5/6.
Default ``--out``: ``benchmarks/results/table1_<partition>[_<size>].md`` (no size suffix
for ``full``) for the Conditional DETR family at the size's epochs, as before; any other
family or epochs add all three, ``table1_<partition>_<family>_<size>_s<student epochs>_t
<teacher epochs>.md``, e.g. ``--family dino --size medium --student-epochs 24
--teacher-epochs 24`` writes ``benchmarks/results/table1_shapes_2t_dino_medium_s24_t24.md``.
Evaluates each teacher (on its classes and on all 20), the Ensemble and every student on
all classes (plus AP50 on each teacher's classes), and writes a markdown table (AP, AP50,
AP75, #params, FLOPs, train time: the columns of Tables I / V), the learning curves (AP vs
epoch, Fig. 4) as a PNG next to it, and a check of the paper's findings.

Resumable (``table1_rows.py`` builds each model's config, work dir and resume point):
every model lives in ``<work-dir>/<name>-<key>/`` (``dino-<name>-<key>/`` for the DINO
family), the key a hash of its final config (schedule, data, seed and, for students, the
teachers' keys), with its checkpoint and its evaluation ``result-<hash of the
partitions>.json`` (Raw and Raw_ext are the same models for 2 and 4 teachers, but are
scored on each partition's classes). A rerun trains
only what is missing, so a full run can be split over several invocations (``--only``); a
changed config gets a new key and is trained again. A run stopped part-way (the end of a
session) resumes from its last validation's checkpoint. Every evaluation is also written to
``--records`` (default ``benchmarks/results/records/<name>-<key>/``, none for the quick
size; see ``records.py``), to be committed: on a machine without the work dirs a rerun
finds it, so the table can be written again (``--report-only``) and a recorded row is not
trained again; the teachers are trained again only when a KA row is to train or a
teacher's or the Ensemble's evaluation has no record; a record names the weights of the
teachers it was made with, so a report names the KA rows trained under teachers trained
again (``table1_report.under_teachers_trained_again``). Another records root (rows trained
under teachers trained again on another machine, kept apart from the default root's) needs
its own ``--work-dir``: a work dir's cached evaluations are read before any root's records.
A KA row's teachers run in bf16 where the CPU computes it natively, else in float32, and
the precision is part of the row's key; so that a table is written again on either kind of
CPU, a row with no record under this CPU's precision is found under the other
(``--teacher-dtype auto``); ``--teacher-dtype bfloat16`` or ``float32`` keys every KA row
under that precision, whatever the CPU (slow: emulated bf16 costs more than float32).
``--only`` with no names trains and evaluates just the teachers and the Ensemble (the
findings then say "not run" for the students). ``--report-only`` trains nothing and reports
the rows x seeds whose training has finished, naming the others: rows trained by several
invocations (e.g. 3 seeds of Raw / Student / Student_slim, one of the others) end in one
table by a last ``--report-only`` run over all rows and seeds. ``--train-only`` is the
converse: it trains what is missing and evaluates its rows (and the teachers and the
Ensemble when their checkpoints are here) into their records, but writes no table, so an
invocation that trains some rows cannot overwrite the table with a partial one. Every run
but ``--report-only`` evaluates each model as soon as it is here: the teachers and the
Ensemble before any student trains, each student when its own training ends, so a session
that stops while a long row trains keeps the records of everything finished before it.

``--teacher-init pretrained`` (DINO family) gives the teachers the paper's head start: its
teachers are UP-DETR pre-trained and then fine-tuned, its students start from scratch
(paper Table I; its Raw_UP / Student_UP rows, with pre-trained students too, gain only
+0.62 AP on VOC). Here the pre-training is class-agnostic detection ('shape' for every
object: where objects are, not what) on other generated images (generator seed
:data:`table1_rows.PRETRAIN_DATA_SEED`, the size's image counts, in ``<data root>_pretrain``) at the
teachers' schedule; the teachers then train their usual schedule from it. Students and Raw
are the same configs as with teachers from scratch (Raw keeps its key and cache; KA rows get
new keys through their teachers'). Default ``--out`` ends in ``_pretrained``. With
``--pretrained-raw`` the table also has "Raw, pre-trained": Raw fine-tuned from the same
pre-training (the paper's Raw_UP, 1.1 AP above its Student on VOC). With
``--pretrained-student`` it also has "Student, pre-trained": the Student row whose student
starts from that pre-training (``student_checkpoint``; the paper's Student_UP, +0.62 AP over
Raw_UP on VOC), under the same pre-trained teachers and sharing the Student's teacher cache.

``--compute-matched`` also trains the row "Raw, compute-matched" (not in the paper, which
takes the teachers as given; users ask): the family's Raw config for E_cm epochs, E_cm the
training compute of all teachers plus the Student row over Raw's training compute per epoch,
rounded up (:func:`compute_matched_epochs`). Training compute of a network for one epoch =
3 x its forward FLOPs per image (forward + backward ~ 2 x forward) x the training images
it sees per epoch (its train dataset's length after the class filter and
``filter_empty_gt``); each teacher at its own data and epochs; the Student 3 x its own
forward plus 1 x every teacher's forward per image, as generic KA runs the frozen teachers
every step. With ``--teacher-init pretrained`` the teachers' class-agnostic pre-training
counts too, once (the teachers share it): the paper's teachers start from UP-DETR, and a
user who has no teachers yet pays for it. The teacher output cache of this benchmark
(teachers run in the first epoch only) is an mmka speed-up and is not credited, which gives
Raw the larger budget. FLOPs
per image: the counter of the #params / FLOPs column (one inference-mode forward, so for
every network alike no loss, no matching and no DINO denoising queries); the Student is
uncompressed, so its deployed network is the network it trains. The breakdown is printed
and written under the table; the row is keyed and cached as the others, per seed.
Seeds: ``randomness.seed`` of every config, trained or only evaluated; with several
``--seeds`` each student is trained per seed and the table gives mean ± standard deviation
(the teachers, and the evaluations of the teachers and the Ensemble, use ``--teacher-seed``,
default 0, whatever ``--seeds`` are: ``--seeds 1 --only Raw`` trains Raw's seed 1 under the
same teachers as ``--seeds 0``). The
report states the mmka commit the invocation started at, the seeds and the teachers'
precision (see :func:`mmka.utils.provenance`); each evaluation records the commit that
computed it. The findings count a difference only outside twice the seed spread (see
``table1_report.findings``).
"""
import argparse
import copy
import hashlib
import json
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402

import mmka  # noqa: E402,F401
from mmka.datasets import (ensure_shapes_dataset, get_partition,  # noqa: E402
                           write_class_agnostic_splits)
from mmka.utils import (CHEAP_TEACHER_DTYPES, last_checkpoint, machine,  # noqa: E402
                        mmka_commit, native_bf16, run_training_jobs,
                        set_num_workers, teacher_precision)
from mmka.utils.complexity import model_complexity  # noqa: E402
import records  # noqa: E402
from table1_report import (COMPUTE_MATCHED, PRETRAINED_RAW, PRETRAINED_STUDENT,  # noqa: E402
                           compute_matched_lines, write_report)
from table1_rows import (DEFAULT_FAMILY, FAMILIES, PRETRAIN_CLASS,  # noqa: E402
                         PRETRAIN_DATA_SEED, SIZES, ensemble_cfg, pretrain_data_root,
                         pretrain_job, resumable, student_job, student_jobs, teacher_jobs)

IMAGE_SIZE = (128, 128)  # the embedded data's image size, for FLOPs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--partition', default='shapes_2t', choices=('shapes_2t', 'shapes_4t'))
    parser.add_argument('--family', default=DEFAULT_FAMILY, choices=tuple(FAMILIES),
                        help='detector family of teachers and students')
    parser.add_argument('--size', default='full', choices=tuple(SIZES))
    parser.add_argument('--teacher-epochs', type=int, default=None, metavar='E',
                        help="teachers' epochs (default: the size's)")
    parser.add_argument('--student-epochs', type=int, default=None, metavar='E',
                        help="every student's epochs (default: the size's)")
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help="the students' seeds")
    parser.add_argument('--teacher-seed', type=int, default=0,
                        help='the seed of the teachers (trained once, shared by every student '
                        'seed) and of the evaluation of the teachers and the Ensemble')
    parser.add_argument('--only', nargs='*', metavar='NAME',
                        help='students to train and report (default all of the family: '
                        + '; '.join(f'{f}: {list(c["students"])}' for f, c in FAMILIES.items())
                        + '); with no names only the teachers and the Ensemble')
    parser.add_argument('--teacher-init', default='scratch', choices=('scratch', 'pretrained'),
                        help="the teachers' start: from scratch like every student (default), "
                        'or fine-tuned from a class-agnostic pre-training on other images, '
                        "the paper's setting (its teachers start from UP-DETR pre-training, "
                        'its students do not; see the module docstring)')
    parser.add_argument('--pretrained-raw', action='store_true',
                        help=f'with --teacher-init pretrained: also train and report '
                        f'"{PRETRAINED_RAW}", Raw fine-tuned from the teachers\' pre-training '
                        "(the paper's Raw_UP)")
    parser.add_argument('--pretrained-student', action='store_true',
                        help=f'with --teacher-init pretrained: also train and report '
                        f'"{PRETRAINED_STUDENT}", the Student starting from the teachers\' '
                        "pre-training (the paper's Student_UP)")
    parser.add_argument('--compute-matched', action='store_true',
                        help=f'also train and report "{COMPUTE_MATCHED}": Raw for the training '
                        'compute of the teachers (with their pre-training, if any) plus '
                        'the Student (see the module docstring)')
    once = parser.add_mutually_exclusive_group()  # one trains nothing, the other reports nothing
    once.add_argument('--report-only', action='store_true',
                      help='train nothing: report the rows (and seeds) whose training has '
                      'finished, naming the others; the way to write one table from rows '
                      'trained by several invocations with different --seeds')
    once.add_argument('--train-only', action='store_true',
                      help='train what is missing (teachers, pre-training, the chosen '
                      'students), evaluate them into their records and stop: the table '
                      'untouched; report later with --report-only')
    parser.add_argument('--teacher-dtype', default='auto', choices=CHEAP_TEACHER_DTYPES,
                        help="the KA rows' teachers' precision: bf16 where the CPU computes "
                        'it natively, else float32 (auto, default; a row recorded under the '
                        'other precision counts as done), or one of them on any CPU')
    parser.add_argument('--jobs', type=int, default=None,
                        help='models trained at once, each on cores / jobs threads (also when '
                        'fewer are left to train); default: one per core, a lone model on '
                        'every core')
    parser.add_argument('--work-dir', default=None,
                        help='default: work_dirs/table1 (work_dirs/table1_quick for --size quick)')
    parser.add_argument('--data-root', default=None,
                        help='default: data/shapes (data/shapes_quick for --size quick)')
    parser.add_argument('--records', default=None,
                        help='where each evaluation is also written, to be committed and '
                        'found by later runs on any machine (see benchmarks/records.py); '
                        'default: benchmarks/results/records, none for --size quick')
    parser.add_argument('--out', default=None,
                        help='markdown table (default: benchmarks/results/'
                        'table1_<partition>[_<size>].md for the default family at the size\'s '
                        'epochs, else table1_<partition>_<family>_<size>_s<student epochs>_t'
                        '<teacher epochs>.md); the curves PNG goes next to it')
    args = parser.parse_args(argv)
    family = FAMILIES[args.family]
    unknown = [n for n in args.only or () if n not in family['students']]
    if unknown:
        parser.error(f'--only: the {args.family} family has no student '
                     f'{", ".join(map(repr, unknown))}; choose from {list(family["students"])}')
    size = SIZES[args.size]
    default_epochs = args.teacher_epochs in (None, size['teacher_epochs']) and \
        args.student_epochs in (None, size['student_epochs'])
    for which in ('teacher', 'student'):
        epochs = getattr(args, f'{which}_epochs')
        if epochs is not None and epochs < 1:
            parser.error(f'--{which}-epochs must be >= 1, got {epochs}')
        if epochs is None:  # from here on: the epochs used
            setattr(args, f'{which}_epochs', size[f'{which}_epochs'])
    for flag, row in (('raw', 'Raw'), ('student', 'the Student')):
        if getattr(args, f'pretrained_{flag}') and args.teacher_init != 'pretrained':
            parser.error(f'--pretrained-{flag} fine-tunes {row} from the teachers\' '
                         'pre-training; add --teacher-init pretrained')
    if args.teacher_init == 'pretrained':
        if 'pretrain' not in family:
            parser.error(f'--teacher-init pretrained: the {args.family} family has no '
                         'pre-training config; families with one: '
                         f'{[f for f, c in FAMILIES.items() if "pretrain" in c]}')
    check_configs(args)
    quick = '_quick' if args.size == 'quick' else ''  # other data, so other dirs
    # A work dir's cached evaluation is read before any root's record (records.load), so two
    # roots sharing one work dir mix: a second root (rows under teachers trained again, say)
    # would report the first's cached teachers, and the default root the second's.
    if (args.records and args.work_dir is None
            and osp.abspath(args.records) != osp.abspath(records.RECORDS)):
        parser.error(f'--records {args.records}: a records root other than the default '
                     'needs its own --work-dir (e.g. work_dirs/table1_<name>), or the default '
                     "work dir's cached evaluations would be read as its records")
    args.work_dir = osp.abspath(args.work_dir or f'work_dirs/table1{quick}')
    args.data_root = osp.abspath(args.data_root or f'data/shapes{quick}')
    if args.records is None:  # quick runs are smoke tests: nothing to commit
        args.records = None if quick else records.RECORDS
    args.records = args.records and osp.abspath(args.records)
    pretrained = args.teacher_init == 'pretrained'
    if args.family == DEFAULT_FAMILY and default_epochs and not pretrained:  # cached reports
        suffix = '' if args.size == 'full' else f'_{args.size}'
    else:
        suffix = (f'_{args.family}_{args.size}_s{args.student_epochs}'
                  f'_t{args.teacher_epochs}' + ('_pretrained' if pretrained else ''))
    args.out = args.out or osp.join(REPO, f'benchmarks/results/table1_{args.partition}{suffix}.md')
    return args


def parse_reader_args(parser: argparse.ArgumentParser, argv, prefix: str, example: str):
    """Arguments of a script that reads the rows this one trained (it trains nothing).

    ``parser`` holds the script's own options; ``--out`` is added here and every other
    option is this script's, selecting the models and work dirs. ``--only`` defaults to
    every row of the family (an empty ``--only`` is an error naming ``example``), ``--out``
    to ``benchmarks/results/<prefix>_<the default Table I file's suffix>``.

    Returns:
        tuple: the script's own options and this script's, with ``out`` and ``only`` set.
    """
    parser.add_argument('--out', default=None, help='markdown results file')
    own, rest = parser.parse_known_args(argv)
    args = parse_args(rest)
    if args.only is not None and not args.only:
        parser.error(f'--only: name at least one row, e.g. {example}')
    suffix = osp.basename(args.out)[len('table1_'):]  # its default Table I file's suffix
    args.out = own.out or osp.join(REPO, 'benchmarks/results', f'{prefix}_{suffix}')
    if args.only is None:
        args.only = list(FAMILIES[args.family]['students'])
    return own, args


def check_configs(args) -> None:
    """Raise ValueError naming the first config of the family that the run needs but the
    repository lacks (e.g. DINO teachers for 4 teachers)."""
    family = FAMILIES[args.family]
    num = len(get_partition(args.partition))
    names = list(family['students']) if args.only is None else list(args.only)
    if getattr(args, 'compute_matched', False):  # Raw trained longer; the Student's cost
        names += ['Raw', 'Student']
    paths = [family['teacher'].format(t, num) for t in range(1, num + 1)]
    paths += [family['ensemble']] + [family['students'][n] for n in names]
    for path in paths:
        if not osp.isfile(osp.join(REPO, path)):
            raise ValueError(f'--family {args.family} --partition {args.partition}: {path} '
                             f'does not exist (the {args.family} family has no config for '
                             f'{num} teachers here).')


def training_flops(forward: int, images: int, epochs: int, frozen_forward: int = 0) -> int:
    """Training compute of a network: (3 x its forward FLOPs per image, the forward plus a
    backward of about twice the forward, + ``frozen_forward``: the forward FLOPs per image of
    networks that run beside it untrained, KA's teachers) x images per epoch x epochs."""
    return (3 * forward + frozen_forward) * images * epochs


def compute_matched_epochs(raw: dict, teachers: List[dict], student: dict,
                           pretraining: Optional[dict] = None) -> dict:
    """The budget of the compute-matched Raw, from forward FLOPs per image and image counts.

    Args:
        raw (dict): ``flops`` (forward FLOPs per image) and ``images`` (training images per
            epoch) of Raw.
        teachers (list[dict]): ``flops``, ``images`` and ``epochs`` of each teacher.
        student (dict): the same of the Student, whose every step also runs the forward of
            every teacher (on the Student's images).
        pretraining (dict, optional): the same of the teachers' pre-training
            (``--teacher-init pretrained``), trained once and shared by every teacher, so
            counted once.

    Returns:
        dict: the inputs (``raw``, ``teachers``, ``student``, ``pretraining``), the training
        FLOPs ``raw_epoch`` (Raw, one epoch), ``pretraining_flops`` (0 without one),
        ``teacher_flops`` (a list), ``student_flops`` and ``total`` (pre-training + teachers
        + Student), and ``epochs``: E_cm = ceil(total / raw_epoch). Integer arithmetic, so
        that E_cm (part of the row's key) never depends on rounding.
    """
    if not teachers:
        raise ValueError('compute-matched budget: no teachers; the Student amalgamates >= 1.')
    keys = ('flops', 'images', 'epochs')
    entries = [('Raw', raw, keys[:2]), ('Student', student, keys)]
    entries += [(f'Teacher_{t}', e, keys) for t, e in enumerate(teachers, 1)]
    if pretraining is not None:
        entries.append(('the pre-training', pretraining, keys))
    for name, entry, needed in entries:
        bad = [f'{k}={entry.get(k)!r}' for k in needed
               if type(entry.get(k)) is not int or entry[k] < 1]
        if bad:
            raise ValueError(f'compute-matched budget: {name} needs positive integer '
                             f'{", ".join(needed)}; got {", ".join(bad)}.')
    raw_epoch = training_flops(raw['flops'], raw['images'], 1)
    teacher_flops = [training_flops(t['flops'], t['images'], t['epochs']) for t in teachers]
    student_flops = training_flops(student['flops'], student['images'], student['epochs'],
                                   frozen_forward=sum(t['flops'] for t in teachers))
    pretraining_flops = 0 if pretraining is None else training_flops(
        pretraining['flops'], pretraining['images'], pretraining['epochs'])
    total = pretraining_flops + sum(teacher_flops) + student_flops
    return dict(raw=raw, teachers=teachers, student=student, pretraining=pretraining,
                raw_epoch=raw_epoch, pretraining_flops=pretraining_flops,
                teacher_flops=teacher_flops, student_flops=student_flops, total=total,
                epochs=-(-total // raw_epoch))


def compute_matched_budget(args, teachers: List[Config]) -> dict:
    """:func:`compute_matched_epochs` of this run; trains nothing (seconds).

    FLOPs per image: :func:`complexity`, the column's counter: each teacher's own config's
    model, Raw, and the Student's student network (KA's trainable network; the Student row is
    uncompressed, so it is also the deployed one), and with ``--teacher-init pretrained`` the
    pre-training's model (:func:`pretrain_job`). Images per epoch: the length of each train
    dataset, built (the generated data must exist: :func:`main` makes the students' and
    teachers', :func:`pretrain_data` the pre-training's).
    """
    student = student_job('Student', args, teachers, args.seeds[0])
    if student.model.get('student', {}).get('compression'):
        raise ValueError('compute-matched budget: the Student row is compressed, so the FLOPs '
                         'counter would see its deployed, not its trained, sequence.')

    def measured(cfg: Config, epochs: Optional[int] = None) -> dict:
        images = len(DATASETS.build(cfg.train_dataloader.dataset))
        entry = dict(flops=complexity(cfg.model.to_dict())['flops'], images=images)
        return entry if epochs is None else dict(entry, epochs=epochs)

    pretraining = None
    if getattr(args, 'teacher_init', 'scratch') == 'pretrained':
        pretrain_data(args)
        job = pretrain_job(args)
        pretraining = measured(job, job.train_cfg.max_epochs)
    return compute_matched_epochs(
        measured(student_job('Raw', args, teachers, args.seeds[0])),
        [measured(t, t.train_cfg.max_epochs) for t in teachers],
        measured(student, student.train_cfg.max_epochs), pretraining)


def evaluate(cfg: Config, checkpoint: Optional[str], partitions: Dict[str, tuple],
             model_cfg: dict, train_dir: Optional[str] = None,
             commit: Optional[str] = None, records_root: Optional[str] = None) -> dict:
    """Metrics (all classes + per partition), curve, train time, params and FLOPs; cached
    in ``cfg.work_dir`` and, with ``records_root``, committed there (:mod:`records`), where
    a later run on any machine finds it without the checkpoint.

    The record also holds ``mmka``, the commit that evaluated it: ``commit`` (the one the
    run started at) or :func:`mmka_commit` now, and the ``machine`` and ``date``; where
    ``cfg`` has teachers (the teachers' and the Ensemble's evaluations, the KA rows), it
    names their weights (:func:`teacher_weights`).
    """
    filename = osp.basename(result_path(cfg.work_dir, partitions))
    cached = records.load(cfg.work_dir, filename, records_root)
    if cached is not None:
        return cached
    teachers = teacher_weights(cfg)
    # In-process loading: the same images, and no worker processes to start and join for
    # one pass over a few hundred small images (it halves the quick size's evaluations).
    cfg = set_num_workers(cfg.copy(), 0)
    cfg.load_from = checkpoint
    cfg.test_evaluator = dict(cfg.test_evaluator, type='PartitionCocoMetric',
                              partitions=partitions)
    metrics = Runner.from_cfg(cfg).test()
    result = dict(metrics=metrics, curve=learning_curve(train_dir) if train_dir else [],
                  train_seconds=train_seconds(train_dir) if train_dir else None,
                  **complexity(model_cfg), mmka=commit or mmka_commit(), machine=machine(),
                  date=time.strftime('%Y-%m-%d'))
    if teachers:
        result['teachers'] = teachers
    records.save(cfg.work_dir, filename, result, records_root)
    return result


def teacher_weights(cfg: Config) -> Dict[str, str]:
    """``{teacher work dir name: records.weights_fingerprint of its checkpoint}`` of the
    teachers in ``cfg.model`` (none: ``{}``): which teacher weights an evaluation was made
    with. A KA row trained where its teachers' checkpoints were lost learned from the same
    configs trained again, other weights; the report names such rows
    (``table1_report.under_teachers_trained_again``)."""
    return {osp.basename(osp.dirname(t['checkpoint'])): records.weights_fingerprint(
        t['checkpoint']) for t in cfg.model.get('teachers', ())}


def evaluated(cfg: Config, partitions: Dict[str, tuple], records_root: Optional[str]) -> bool:
    """Whether :func:`evaluate` has a result for ``cfg`` (cached or committed)."""
    filename = osp.basename(result_path(cfg.work_dir, partitions))
    return records.exists(cfg.work_dir, filename, records_root)


def finished(cfg: Config, partitions: Dict[str, tuple], records_root: Optional[str]) -> bool:
    """Whether the model of ``cfg`` is done: its checkpoint is here or its evaluation is
    (cached or committed by an earlier run, maybe on another machine); it is not trained
    again."""
    return osp.isfile(last_checkpoint(cfg)) or evaluated(cfg, partitions, records_root)


def recorded_in_either_precision(args, teachers: List[Config], budget: Optional[dict],
                                 students: Dict[tuple, Config],
                                 partitions: Dict[str, tuple]) -> Dict[tuple, Config]:
    """``students`` (this CPU's precision for the KA rows' teachers, ``--teacher-dtype
    auto``) with each row that has neither a checkpoint nor an evaluation under it, but an
    evaluation under the other precision, replaced by that row's config: a record made on a
    CPU with native bf16 is found on one without, and the converse. Rows without teachers
    have the same key under both."""
    other = 'float32' if native_bf16() else 'bfloat16'
    elsewhere = student_jobs(argparse.Namespace(**dict(vars(args), teacher_dtype=other)),
                             teachers, budget)
    found = {}
    for key, cfg in students.items():
        there = elsewhere[key]
        found[key] = there if not finished(cfg, partitions, args.records) and \
            evaluated(there, partitions, args.records) else cfg
    return found


def result_path(work_dir: str, partitions: Dict[str, tuple]) -> str:
    """Where the evaluation of the model in ``work_dir`` on ``partitions`` is cached."""
    key = hashlib.sha1(json.dumps(partitions, sort_keys=True).encode()).hexdigest()[:10]
    return osp.join(work_dir, f'result-{key}.json')


def learning_curve(work_dir: str) -> List[List[float]]:
    """[[epoch, AP, AP50], ...] from the validation records of mmengine's scalars.json.

    Every run in ``work_dir`` (one ``<timestamp>/vis_data`` each) adds its validations: a
    resumed run continues the curve of the run it resumed. Where two runs validated the same
    epoch (a run restarted from scratch in the same work dir), the newest run's value is
    kept, since it trained the checkpoint that is evaluated; the timestamp names sort in
    time order."""
    scalars = []
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files and osp.basename(root) == 'vis_data':
            scalars.append(osp.join(root, 'scalars.json'))
    by_epoch = {}
    for path in sorted(scalars):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'coco/bbox_mAP' in rec:
                    by_epoch[rec['step']] = [rec['step'], rec['coco/bbox_mAP'],
                                             rec['coco/bbox_mAP_50']]
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def curve_record(cfg: Config, records_root: Optional[str],
                 commit: Optional[str] = None) -> Optional[dict]:
    """The record ``curve.json`` of a finished training (``curve`` as :func:`learning_curve`
    gives it, ``train_seconds``, and the ``mmka`` commit, ``machine`` and ``date`` that
    recorded it): committed, or made now from ``cfg.work_dir`` when the run has finished
    here; None for a run that has not. ``commit``: the one the invocation started at, which
    trained the run (default: HEAD now, which may be a later commit)."""
    record = records.load(cfg.work_dir, 'curve.json', records_root)
    if record is None and osp.isfile(last_checkpoint(cfg)):
        record = dict(curve=learning_curve(cfg.work_dir),
                      train_seconds=train_seconds(cfg.work_dir), mmka=commit or mmka_commit(),
                      machine=machine(), date=time.strftime('%Y-%m-%d'))
        records.save(cfg.work_dir, 'curve.json', record, records_root)
    return record


def train_seconds(work_dir: str) -> Optional[float]:
    path = osp.join(work_dir, 'train_time.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)['train_seconds']


def complexity(model_cfg: dict) -> dict:
    """#params and FLOPs of the deployed network (an amalgamator's student)."""
    if not model_cfg:  # the ensemble: N teachers, not one network
        return dict(params=None, flops=None)
    if model_cfg['type'] == 'KADETRAmalgamator':
        model_cfg = model_cfg['student']
    model = MODELS.build(model_cfg)
    info = model_complexity(model, IMAGE_SIZE, torch.device('cpu'))
    return dict(params=info['params'], flops=info['flops'])


def training_slots(jobs: Optional[int], runs: int) -> int:
    """Trainings at once (each on cores / slots threads): ``--jobs`` as given, also when
    fewer runs are left (a run started beside another invocation's must not take every
    core); by default one per core, at most one per run (a lone run gets every core)."""
    return jobs or min(os.cpu_count() or 1, max(1, runs))


def train(cfgs: List[Config], jobs: Optional[int], train_tool: str, log,
          on_trained: Optional[Callable[[Config], None]] = None) -> None:
    """Train ``cfgs`` (resuming each from its last checkpoint), :func:`training_slots` at
    once; ``on_trained(cfg)`` as soon as ``cfg``'s training has finished."""
    by_name = {osp.basename(c.work_dir): c for c in cfgs}
    todo = [(name, resumable(copy.deepcopy(c))) for name, c in by_name.items()]
    run_training_jobs(todo, train_tool, training_slots(jobs, len(todo)), log=log,
                      on_trained=on_trained and (lambda name: on_trained(by_name[name])))


def seeds_by_row(keys) -> List[str]:
    """``[(name, seed), ...]`` as ``['`Raw` (seeds 1, 2)', ...]``, one entry per row."""
    seeds: Dict[str, List[int]] = {}
    for name, seed in keys:
        seeds.setdefault(name, []).append(seed)
    return [f"`{name}` (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})"
            for name, s in seeds.items()]


def pretrain_data(args) -> None:
    """Generate the pre-training's images (:func:`pretrain_data_root`) and their
    class-agnostic splits, where they are not there yet."""
    size = SIZES[args.size]
    root = pretrain_data_root(args)
    ensure_shapes_dataset(root, num_train=size['num_train'], num_val=size['num_val'],
                          seed=PRETRAIN_DATA_SEED)
    write_class_agnostic_splits(root, name=PRETRAIN_CLASS)


def pretrain(args, needed: bool, log, train_tool: str,
             commit: Optional[str] = None) -> Optional[str]:
    """``--teacher-init pretrained``: make the pre-training data and, when ``needed`` (a
    teacher, Raw_UP or Student_UP is still to train), the pre-training (:func:`pretrain_job`);
    returns the report's sentence about it (None for teachers from scratch). Its curve is
    committed as the record ``curve.json`` (:mod:`records`) under ``commit``, the one the
    invocation started at."""
    if getattr(args, 'teacher_init', 'scratch') != 'pretrained':
        return None
    size = SIZES[args.size]
    pretrain_data(args)
    job = pretrain_job(args)
    records_root = getattr(args, 'records', None)
    if needed and not osp.isfile(last_checkpoint(job)):
        if args.report_only:
            raise ValueError(f'--report-only: the pre-training in {job.work_dir} is not '
                             'trained; run the same command without --report-only first.')
        train([job], args.jobs, train_tool, log)
    record = curve_record(job, records_root, commit)
    curve = record['curve'] if record else []
    ap = f'{100 * curve[-1][1]:.1f}' if curve else 'not recorded'
    log(f'pre-training {osp.basename(job.work_dir)}: class-agnostic AP {ap}')
    return (f"Teachers: fine-tuned from a class-agnostic pre-training "
            f"(`{osp.basename(job.work_dir)}`: the family's Raw with one "
            f"class '{PRETRAIN_CLASS}', {job.train_cfg.max_epochs} epochs on "
            f"{size['num_train']} other images, generator seed {PRETRAIN_DATA_SEED}; "
            f"class-agnostic AP {ap} on {size['num_val']} other val images), the stand-in "
            "for the paper's UP-DETR pre-training of the teachers; every student starts from "
            'scratch, as in the paper.')


def evaluate_rows(args, teachers: List[Config], students: Dict[tuple, Config],
                  partitions: Dict[str, tuple], commit: str, log) -> tuple:
    """:func:`evaluate` each teacher, the Ensemble (none without ``teachers``) and each
    student; returns ``rows`` (``{row name: [result per seed]}``) and ``precisions`` (the
    teachers' precision of each row's config)."""
    rows, precisions = {}, {}
    for i, teacher in enumerate(teachers):
        log(f'evaluating teacher {i + 1}')
        cfg = ensemble_cfg(args, teachers, i)
        rows[f'Teacher_{i + 1}'] = [evaluate(cfg, None, partitions, teacher.model.to_dict(),
                                             teacher.work_dir, commit, args.records)]
        precisions[f'Teacher_{i + 1}'] = teacher_precision(cfg)
    if teachers:
        log('evaluating the ensemble')
        cfg = ensemble_cfg(args, teachers)
        rows['Ensemble'] = [evaluate(cfg, None, partitions, {}, commit=commit,
                                     records_root=args.records)]
        precisions['Ensemble'] = teacher_precision(cfg)
    for (name, seed), cfg in students.items():
        log(f'evaluating {name} (seed {seed})')
        rows.setdefault(name, []).append(
            evaluate(cfg, last_checkpoint(cfg), partitions, cfg.model.to_dict(), cfg.work_dir,
                     commit, args.records))
        precisions[name] = teacher_precision(cfg)
    return rows, precisions


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    register_all_modules()
    size = SIZES[args.size]
    ensure_shapes_dataset(args.data_root, num_train=size['num_train'], num_val=size['num_val'])
    log = lambda msg: print(f'[table1] {msg}', flush=True)  # noqa: E731
    train_tool = osp.join(REPO, 'tools/train.py')
    commit = mmka_commit()  # now: a commit made while this runs did not train its models
    log(f'mmka {commit}; randomness.seed {args.teacher_seed} for the teachers and the '
        f'Ensemble, {", ".join(map(str, args.seeds))} for the students')

    teachers = teacher_jobs(args)
    partitions = {f'T{t}': c for t, c in enumerate(get_partition(args.partition), 1)}
    budget = compute_matched_budget(args, teachers) if args.compute_matched else None
    if budget:  # E_cm before any training
        for line in compute_matched_lines(budget):
            log(line)
    students = student_jobs(args, teachers, budget)
    if args.teacher_dtype == 'auto':
        students = recorded_in_either_precision(args, teachers, budget, students, partitions)
    done = {key: finished(c, partitions, args.records) for key, c in students.items()}
    to_train = {key: c for key, c in students.items() if not done[key]}
    if args.report_only:  # leave them out of the table and name them under it
        students = {key: c for key, c in students.items() if done[key]}
    # The teachers' checkpoints are needed to train a KA row, or to evaluate a teacher or the
    # Ensemble that has no record yet: for the table, or when they are the only rows asked
    # for (`--only` with no names, even with --train-only).
    judged = [ensemble_cfg(args, teachers, i) for i in range(len(teachers))]
    judged.append(ensemble_cfg(args, teachers))
    teachers_only = args.only is not None and not args.only
    need_teachers = (
        (not args.train_only or teachers_only)
        and not all(evaluated(c, partitions, args.records) for c in judged)
        or not args.report_only and
        any(c.model.type == 'KADETRAmalgamator' for c in to_train.values()))
    untrained = [c for c in teachers if not osp.isfile(last_checkpoint(c))] \
        if need_teachers else []
    if args.report_only and untrained:
        raise ValueError(f'--report-only: the teachers in {[c.work_dir for c in untrained]} '
                         'are not trained; run the same command without --report-only first.')
    from_pretraining = any(key[0] in (PRETRAINED_RAW, PRETRAINED_STUDENT) for key in to_train)
    pretraining = pretrain(args, bool(untrained) or (from_pretraining and not args.report_only),
                           log, train_tool, commit)
    if not args.report_only:
        train(untrained, args.jobs, train_tool, log)
        # Each evaluation as soon as its model is here, into its record: a session that
        # ends while a long student trains keeps the teachers' and every finished row's.
        if all(osp.isfile(last_checkpoint(c)) for c in teachers):
            evaluate_rows(args, teachers, {}, partitions, commit, log)
        keys = {c.work_dir: key for key, c in to_train.items()}
        train(list(to_train.values()), args.jobs, train_tool, log,
              on_trained=lambda c: evaluate_rows(args, [], {keys[c.work_dir]: c}, partitions,
                                                 commit, log))
        to_train = {}
    if args.train_only:  # the evaluations, for the records; the teachers' when they are here
        with_teachers = all(osp.isfile(last_checkpoint(c)) for c in teachers)
        evaluate_rows(args, teachers if with_teachers else [], students, partitions, commit,
                      log)
        log(f'--train-only: trained and evaluated (records in {args.records}), {args.out} '
            'left as it was; write it with --report-only')
        return None
    not_trained = seeds_by_row(to_train)
    if args.report_only:
        log(f'not trained, left out: {", ".join(not_trained) or "none"}')
    rows, precisions = evaluate_rows(args, teachers, students, partitions, commit, log)

    used = dict(size, teacher_epochs=args.teacher_epochs, student_epochs=args.student_epochs)
    write_report(args, used, rows, partitions, minutes=(time.time() - start) / 60,
                 precisions=precisions, compute_matched=budget, commit=commit,
                 not_trained=not_trained, pretraining=pretraining)
    return rows


if __name__ == '__main__':
    main()
