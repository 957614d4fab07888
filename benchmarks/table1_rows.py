"""The rows of Table I in miniature: what each trains, where, and from where it resumes.

Each model of ``reproduce_table1.py`` (a teacher, the Ensemble, a student row at a seed, the
pre-training of ``--teacher-init pretrained``) is a config built here from the family's
config file (:data:`FAMILIES`) at the benchmark's data, schedule and seed (:func:`schedule`),
living in ``<work dir>/<name>-<hash of the config>`` (:func:`keyed`), so a rerun finds
what is trained and a changed config is trained again; :func:`resumable` sets where a
stopped run goes on from.
"""
import hashlib
import os
import os.path as osp
import re
import sys
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config
from mmengine.runner import find_latest_checkpoint

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from mmka.datasets import get_partition  # noqa: E402
from mmka.utils import (last_checkpoint, set_data_root, use_cheap_teachers,  # noqa: E402
                        use_teacher_cache)
from table1_report import COMPUTE_MATCHED, PRETRAINED_RAW, PRETRAINED_STUDENT  # noqa: E402

SIZES = dict(
    # a check that everything runs (the test suite)
    quick=dict(num_train=24, num_val=12, teacher_epochs=1, student_epochs=1, val_interval=1),
    # the demo's short schedule: about 1 hour for the 2-teacher table on 2 CPU cores
    medium=dict(num_train=2000, num_val=500, teacher_epochs=12, student_epochs=6,
                val_interval=2),
    # the teacher configs' 30 epochs, students 15: about 2.5 hours on 2 CPU cores
    full=dict(num_train=2000, num_val=500, teacher_epochs=30, student_epochs=15,
              val_interval=3))
TEACHER_CFG = 'configs/teachers/conditional-detr_r18tiny_1xb16-30e_shapes-t{}of{}.py'
ENSEMBLE_CFG = 'configs/ka/shapes_2t-ensemble.py'
#: Students: name -> 2-teacher config; for 4 teachers the config gets shapes_4t's teachers.
STUDENTS = {
    'Raw': 'configs/baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py',
    'Raw_ext': 'configs/baselines/ka-conditional-detr_r18tiny_1xb16-30e_shapes-rawext2t.py',
    'Student': 'configs/ka/shapes_2t.py',
    'Student, TA by points': 'configs/ka/shapes_2t-ta-points.py',
    'Student_slim': 'configs/ka/shapes_2t-slim.py',
    'SA only': 'configs/ka/shapes_2t-sa.py',
    'TA only': 'configs/ka/shapes_2t-ta.py',
    'SAG': 'configs/ka/shapes_2t-sag.py',
    'TA label-free': 'configs/ka/shapes_2t-ta-labelfree.py',
    'SA+TA label-free': 'configs/ka/shapes_2t-labelfree.py',
    'slim isometric': 'configs/ka/shapes_2t-slim-isometric.py',
    'slim random': 'configs/ka/shapes_2t-slim-random.py',
    'slim, student guide': 'configs/ka/shapes_2t-slim-student-guide.py',
    # Fidelity switches: the authors' code beside the paper's text (docs/method.md, "The
    # paper's text, the authors' code, mmka's default").
    'Student, TA every layer': 'configs/ka/shapes_2t-ta-all-layers.py',
    'Student, code recipe': 'configs/ka/shapes_2t-code-recipe.py',
}
#: The tiny DINO family: name -> 2-teacher config; for 4 teachers, as above, the config gets
#: shapes_4t's teachers (configs/ka/shapes_4t_dino*.py are the same models for tools/train.py).
#: Every row of :data:`STUDENTS`, under the same name (label-free: no ground-truth term of
#: any kind, DINO's encoder and denoising ones included; see the configs' headers).
DINO_STUDENTS = {
    'Raw': 'configs/baselines/dino_r18tiny_1xb16-12e_shapes.py',
    'Raw_ext': 'configs/baselines/ka-dino_r18tiny_1xb16-12e_shapes-rawext2t.py',
    'Student': 'configs/ka/shapes_2t_dino.py',
    'Student, TA by points': 'configs/ka/shapes_2t_dino-ta-points.py',
    'Student_slim': 'configs/ka/shapes_2t_dino-slim.py',
    'SA only': 'configs/ka/shapes_2t_dino-sa.py',
    'TA only': 'configs/ka/shapes_2t_dino-ta.py',
    'SAG': 'configs/ka/shapes_2t_dino-sag.py',
    'TA label-free': 'configs/ka/shapes_2t_dino-ta-labelfree.py',
    'SA+TA label-free': 'configs/ka/shapes_2t_dino-labelfree.py',
    # mmka's option for DINO, not in the paper: TA on the two-stage proposals too, the only
    # term that trains DINO's proposal head without ground truth.
    'SA+TA label-free, proposal TA': 'configs/ka/shapes_2t_dino-labelfree-proposals.py',
    # The same with TA on every decoder layer: without labels the last-layer loss never
    # reaches the first decoder layer's box branch (DINO detaches reference boxes).
    'SA+TA label-free, proposal TA, every layer':
        'configs/ka/shapes_2t_dino-labelfree-proposals-all-layers.py',
    # The same with the targets at conf > 0.5: without labels the targets are the only
    # positives, and at 0.1 6 % of them are not labelled objects (ta_targets.py).
    'SA+TA label-free, proposal TA, every layer, conf > 0.5':
        'configs/ka/shapes_2t_dino-labelfree-proposals-all-layers-conf05.py',
    # The same with DINO's denoising loss back, its queries built from the teachers' targets
    # as labels (the one ground-truth term that no TA term replaces).
    'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising':
        'configs/ka/shapes_2t_dino-labelfree-proposals-all-layers-conf05-dn.py',
    # The same with TA's pairs matched by DETR's cost on the targets' argmax labels and
    # unweighted (the authors' code's TA matching and weights), as DINO's own loss on labels.
    'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR matching, '
    'unweighted':
        'configs/ka/shapes_2t_dino-labelfree-proposals-all-layers-conf05-dn-prob-unweighted.py',
    # The same with TA's class term DINO's focal loss on the targets' argmax labels, unmatched
    # queries at full weight: TA's decoder terms are then L_d on the targets as labels.
    'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR matching, '
    'unweighted, focal':
        'configs/ka/shapes_2t_dino-labelfree-proposals-all-layers-conf05-dn-prob-unweighted-'
        'focal.py',
    # The focal row with the unmatched queries' background weight back at eq. 11's 0.1: which
    # of its two changes (loss form, background weight) carries its gain.
    'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR matching, '
    'unweighted, focal, background 0.1':
        'configs/ka/shapes_2t_dino-labelfree-proposals-all-layers-conf05-dn-prob-unweighted-'
        'focal-bg01.py',
    # The Student's recipe with its L_d on the teachers' targets as labels, not the
    # annotations: whether the labels hold something the targets lack.
    'SA+TA label-free, targets as labels': 'configs/ka/shapes_2t_dino-labelfree-pseudo-labels.py',
    # A control for the label-free rows, not a student: Raw without DINO's denoising loss,
    # the one ground-truth term that no teacher output replaces there.
    'Raw, no denoising': 'configs/baselines/dino-no-denoising_r18tiny_1xb16-12e_shapes.py',
    'slim isometric': 'configs/ka/shapes_2t_dino-slim-isometric.py',
    'slim random': 'configs/ka/shapes_2t_dino-slim-random.py',
    'slim, student guide': 'configs/ka/shapes_2t_dino-slim-student-guide.py',
    # Fidelity switches, as above (the code's softmax switches on DINO's focal head: see
    # the code-recipe config's header).
    'Student, TA every layer': 'configs/ka/shapes_2t_dino-ta-all-layers.py',
    # Its diagnostic: TA on every layer at the last-layer recipe's total TA weight.
    'Student, TA every layer, total weight 1':
        'configs/ka/shapes_2t_dino-ta-all-layers-total-weight-1.py',
    'Student, code recipe': 'configs/ka/shapes_2t_dino-code-recipe.py',
}
DEFAULT_FAMILY = 'conditional-detr'
#: family -> teacher config pattern (teacher t of n), Ensemble config, students, prefix of
#: the run names (work dirs), and whether KA rows run their teachers by
#: :func:`use_cheap_teachers` (bf16 autocast where the CPU computes bf16 natively);
#: ``uncached_hooks``: hook types whose rows run their teachers every step (no teacher output
#: cache: what they record from a multi-scale teacher, its encoder call, carries the level
#: layout, which the per-image cache cannot store).
FAMILIES = {
    DEFAULT_FAMILY: dict(teacher=TEACHER_CFG, ensemble=ENSEMBLE_CFG, students=STUDENTS,
                         prefix='', cheap_teachers=True),
    # DINO teachers under CPU bf16 autocast work: the tiny DINO teacher (eval, predict on 2
    # random 128x128 images, on a CPU with native bf16) runs without error and gives finite
    # scores and boxes; mmcv's MultiScaleDeformableAttention takes its pure PyTorch
    # grid_sample path on CPU, and autocast runs it in bf16. Neck and encoder outputs (what
    # SA reads) are within 1% (relative L2) of float32, so the teachers stay cheap here too.
    'dino': dict(teacher='configs/teachers/dino_r18tiny_1xb16-12e_shapes-t{}of{}.py',
                 ensemble='configs/ka/shapes_2t_dino-ensemble.py', students=DINO_STUDENTS,
                 prefix='dino-', cheap_teachers=True,
                 uncached_hooks=('PointTaskAmalgamation', ),
                 pretrain='configs/pretrain/dino_r18tiny_1xb16-12e_shapes-agnostic.py'),
}
#: ``--teacher-init pretrained``: the generator seed of the pre-training images (the
#: benchmark's data is seed 0, so these are other images) and their one class.
PRETRAIN_DATA_SEED = 1
PRETRAIN_CLASS = 'shape'


def schedule(path: str, args, epochs: int, seed: int) -> Config:
    """A config at the benchmark's data, epochs (lr step at 5/6) and seed."""
    size = SIZES[args.size]
    cfg = set_data_root(Config.fromfile(osp.join(REPO, path)), args.data_root + '/')
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = size['val_interval']
    for scheduler in cfg.get('param_scheduler', []):
        if scheduler.get('type') == 'MultiStepLR':
            scheduler.update(end=epochs, milestones=[max(1, epochs * 5 // 6)])
    cfg.randomness = dict(seed=seed)
    # Part of every run's key, so left as it was: `resumable` sets the interval and the
    # number of checkpoints a run keeps.
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs,
                                        max_keep_ckpts=1)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='TrainTimeHook')]
    return cfg


def keyed(cfg: Config, name: str, work_dir: str) -> Config:
    """Set ``cfg.work_dir`` to ``<work_dir>/<name>-<hash of the config>``.

    The hash reads the repository's path as ``.`` (data roots, teachers' and pre-trainings'
    checkpoints live under it by default), so that a model keeps its key in another checkout
    or on another machine, where its committed record (:mod:`records`) must find it.
    """
    cfg.work_dir = None
    key = hashlib.sha1(Config(portable(cfg.to_dict())).pretty_text.encode()).hexdigest()[:10]
    cfg.work_dir = osp.join(work_dir, f'{slug(name)}-{key}')
    return cfg


def portable(value):
    """``value`` (a config's dict, list or leaf) with the repository's path written ``.`` in
    every string. Before formatting: the formatter wraps lines by their length, so a path
    replaced in the formatted text would still change it."""
    if isinstance(value, str):
        return value.replace(REPO, '.')
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(portable(v) for v in value)
    return value


def resume_point(work_dir: str) -> Optional[str]:
    """The checkpoint a run in ``work_dir`` resumes from, None for a fresh start.

    mmengine's ``last_checkpoint`` file where the checkpoint it names exists; else the
    newest ``epoch_N.pth`` there. A run killed while saving (a session's end) can leave
    ``last_checkpoint`` naming a checkpoint that is gone, and mmengine's own resume then
    fails with FileNotFoundError instead of going on from what is there.
    """
    if not osp.isdir(work_dir):
        return None
    named = find_latest_checkpoint(work_dir)
    if named and osp.isfile(named):
        return named
    epochs = [(int(m.group(1)), f) for f in os.listdir(work_dir)
              if (m := re.fullmatch(r'epoch_(\d+)\.pth', f))]
    return osp.join(work_dir, max(epochs)[1]) if epochs else None


def resumable(cfg: Config) -> Config:
    """``cfg`` checkpointing at every validation and resuming from :func:`resume_point`.

    Long rows outlive a session. Set after :func:`keyed`: neither changes what is trained
    (the sampler reseeds every epoch, the train time carries over in the checkpoint), so the
    keys of runs trained before this existed stay valid. A ``load_from`` (a pre-trained
    teacher's start) is kept for a run with no checkpoint yet and replaced by the checkpoint
    for one that has one: mmengine resumes *from* ``load_from`` when ``resume`` is set, which
    with the pre-training's weights would take its epoch counter and optimizer state.

    Two checkpoints are kept: mmengine's ``CheckpointHook`` removes the oldest one *before*
    it saves the next, so with one kept a run killed while saving (a session's end) is left
    with none and starts again from epoch 0 (Student_UP seed 0 lost 12 epochs so, session 42).
    """
    cfg.default_hooks.checkpoint.interval = cfg.train_cfg.val_interval
    cfg.default_hooks.checkpoint.max_keep_ckpts = 2
    start = resume_point(cfg.work_dir)
    if start is None:
        cfg.resume = False  # a fresh start, from load_from's weights if there are any
    else:
        cfg.resume, cfg.load_from = True, start
    return cfg


def slug(name: str) -> str:
    """``name`` as a folder name: lower case, every other character as '-'."""
    return ''.join(c if c.isalnum() else '-' for c in name.lower()).strip('-')


def family_of(args) -> dict:
    """The entry of :data:`FAMILIES` that ``args`` chose (older callers: the default)."""
    return FAMILIES[getattr(args, 'family', DEFAULT_FAMILY)]


def epochs_of(args, which: str) -> int:
    """The epochs of ``which`` ('teacher' or 'student'): ``--<which>-epochs`` or the size's."""
    return getattr(args, f'{which}_epochs', None) or SIZES[args.size][f'{which}_epochs']


def pretrain_data_root(args) -> str:
    """The pre-training images of ``--teacher-init pretrained``: ``<data root>_pretrain``."""
    return args.data_root + '_pretrain'


def pretrain_job(args) -> Config:
    """The class-agnostic pre-training that ``--teacher-init pretrained`` teachers start from:
    the family's ``pretrain`` config on :func:`pretrain_data_root`, at the teachers' epochs
    and seed."""
    family = family_of(args)
    cfg = schedule(family['pretrain'], args, epochs_of(args, 'teacher'), args.teacher_seed)
    cfg = set_data_root(cfg, pretrain_data_root(args) + '/')
    return keyed(cfg, f"{family['prefix']}pretrain-agnostic", args.work_dir)


def teacher_jobs(args) -> List[Config]:
    """The teachers, from scratch or (``--teacher-init pretrained``) fine-tuned from
    :func:`pretrain_job`'s last checkpoint (its 1-class heads do not load: mmengine skips
    weights of another shape, with a warning in the teacher's log)."""
    num = len(get_partition(args.partition))
    family = family_of(args)
    pretrained = getattr(args, 'teacher_init', 'scratch') == 'pretrained'
    start = last_checkpoint(pretrain_job(args)) if pretrained else None
    teachers = []
    for t in range(1, num + 1):
        cfg = schedule(family['teacher'].format(t, num), args, epochs_of(args, 'teacher'),
                       args.teacher_seed)
        name = f"{family['prefix']}teacher{t}of{num}"
        if pretrained:
            cfg.load_from, name = start, name + '-pretrained'
        teachers.append(keyed(cfg, name, args.work_dir))
    return teachers


def trained_teacher_jobs(args) -> List[Config]:
    """:func:`teacher_jobs`, for scripts that read the trained teachers' checkpoints.

    Raises:
        ValueError: naming the work dirs of the teachers that have no checkpoint yet.
    """
    teachers = teacher_jobs(args)
    missing = [c.work_dir for c in teachers if not osp.isfile(last_checkpoint(c))]
    if missing:
        raise ValueError(f'The teachers in {missing} are not trained; run '
                         'benchmarks/reproduce_table1.py with the same options first.')
    return teachers


def trained_student_jobs(args, teachers: List[Config], tag: str,
                         check: Optional[Callable[[str, Config], None]] = None
                         ) -> Iterator[Tuple[str, int, Config, str]]:
    """``(row, seed, config, final checkpoint)`` of each ``--only`` row and ``--seeds``
    seed trained in ``args.work_dir``, for scripts that read the trained students.

    ``check(row, config)``, if given, may refuse a row (by raising) before its checkpoint
    is looked for, so a wrong row is refused whether or not it is trained. Rows not
    trained are named on stdout, prefixed ``[tag]``, and skipped.
    """
    for name in args.only:
        for seed in args.seeds:
            cfg = student_job(name, args, teachers, seed)
            if check is not None:
                check(name, cfg)
            checkpoint = last_checkpoint(cfg)
            if not osp.isfile(checkpoint):
                print(f'[{tag}] {name} seed {seed}: not trained ({cfg.work_dir}), skipped',
                      flush=True)
                continue
            yield name, seed, cfg, checkpoint


def teacher_entries(args, teachers: List[Config]) -> List[dict]:
    num = len(teachers)
    pattern = family_of(args)['teacher']
    return [dict(config=osp.join(REPO, pattern.format(t, num)), checkpoint=last_checkpoint(c))
            for t, c in enumerate(teachers, 1)]


def student_job(name: str, args, teachers: List[Config], seed: int) -> Config:
    family = family_of(args)
    cfg = schedule(family['students'][name], args, epochs_of(args, 'student'), seed)
    num = len(teachers)
    name = family['prefix'] + name
    if cfg.model.type == 'KADETRAmalgamator':
        cfg.model.teachers = teacher_entries(args, teachers)
        if cfg.model.student.type.startswith('KA'):
            cfg.model.student.num_teachers = num
        if family['cheap_teachers']:
            use_cheap_teachers(cfg, getattr(args, 'teacher_dtype', 'auto'))
        # The embedded pipeline is deterministic (one resize, no flips), so every KA row
        # (but those with the family's ``uncached_hooks``) reads its teachers' outputs from
        # a cache after its first epoch. float32 storage serves exactly what the teachers
        # computed: the same training as without it. The seeds of a row share its cache
        # (same teachers, same hooks).
        uncached = family.get('uncached_hooks', ())
        if not any(hook['type'] in uncached for hook in cfg.model.hooks):
            teachers_key = '-'.join(osp.basename(t.work_dir) for t in teachers)
            use_teacher_cache(cfg, osp.join(args.work_dir, 'teacher_cache',
                                            f'{slug(name)}-{teachers_key}'), dtype='float32')
    elif cfg.model.type.startswith('KA'):  # Raw_ext: N input projections, no teachers
        cfg.model.num_teachers = num
    return keyed(cfg, f'{name}-seed{seed}', args.work_dir)


def ensemble_cfg(args, teachers: List[Config], which: Optional[int] = None) -> Config:
    """All teachers (or teacher ``which``) merged into the 20-class label space."""
    family = family_of(args)
    cfg = set_data_root(Config.fromfile(osp.join(REPO, family['ensemble'])),
                        args.data_root + '/')
    entries = teacher_entries(args, teachers)
    cfg.model.teachers = entries if which is None else [entries[which]]
    name = 'ensemble' if which is None else f'teacher{which + 1}-all-classes'
    name = family['prefix'] + name
    cfg.randomness = dict(seed=args.teacher_seed)
    return keyed(cfg, name, args.work_dir)


def pretrained_raw_job(args, seed: int) -> Config:
    """The family's Raw fine-tuned from :func:`pretrain_job` (the paper's Raw_UP: the
    pre-training on the student's side too), keyed under its own row name."""
    family = family_of(args)
    cfg = schedule(family['students']['Raw'], args, epochs_of(args, 'student'), seed)
    cfg.load_from = last_checkpoint(pretrain_job(args))
    return keyed(cfg, f"{family['prefix']}{PRETRAINED_RAW}-seed{seed}", args.work_dir)


def pretrained_student_job(args, teachers: List[Config], seed: int) -> Config:
    """The Student row with its student starting from :func:`pretrain_job` (the paper's
    Student_UP), keyed under its own row name; it reads the Student's teacher cache (same
    teachers, same hooks)."""
    cfg = student_job('Student', args, teachers, seed)
    cfg.model.student_checkpoint = last_checkpoint(pretrain_job(args))
    name = f"{family_of(args)['prefix']}{PRETRAINED_STUDENT}-seed{seed}"
    return keyed(cfg, name, args.work_dir)


def compute_matched_job(args, epochs: int, seed: int) -> Config:
    """The family's Raw at ``epochs`` (E_cm), keyed under its own row name, so that it never
    shares a work dir with the Raw row even when E_cm equals the students' epochs."""
    family = family_of(args)
    cfg = schedule(family['students']['Raw'], args, epochs, seed)
    return keyed(cfg, f"{family['prefix']}{COMPUTE_MATCHED}-seed{seed}", args.work_dir)


def student_jobs(args, teachers: List[Config], budget: Optional[dict]) -> Dict[tuple, Config]:
    """``{(row name, seed): config}`` of every student row the invocation asks for: the
    ``--only`` rows (default: all of the family's), and the compute-matched, pre-trained Raw
    and pre-trained Student rows of their flags, for each of ``--seeds``."""
    names = list(family_of(args)['students']) if args.only is None else args.only
    students = {(n, s): student_job(n, args, teachers, s) for n in names for s in args.seeds}
    if budget:
        students.update({(COMPUTE_MATCHED, s): compute_matched_job(args, budget['epochs'], s)
                         for s in args.seeds})
    if args.pretrained_raw:
        students.update({(PRETRAINED_RAW, s): pretrained_raw_job(args, s) for s in args.seeds})
    if args.pretrained_student:
        students.update({(PRETRAINED_STUDENT, s): pretrained_student_job(args, teachers, s)
                         for s in args.seeds})
    return students
