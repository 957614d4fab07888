"""The markdown table, learning-curve PNG and findings of reproduce_table1.py."""
import os
import os.path as osp
import shlex
import statistics
import sys
import time
from typing import Dict, List, Optional

from mmka.utils import machine, mmka_commit, provenance

AP_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75')
#: ``--family`` -> the detectors it names, for titles.
FAMILY_NAMES = {'conditional-detr': 'tiny Conditional DETR', 'dino': 'tiny DINO'}
#: The row of ``--compute-matched``: Raw trained for the compute of the teachers + Student.
COMPUTE_MATCHED = 'Raw, compute-matched'
#: Raw fine-tuned from the teachers' pre-training (``--pretrained-raw``; paper: Raw_UP).
PRETRAINED_RAW = 'Raw, pre-trained'
#: The Student starting from that pre-training (``--pretrained-student``; paper: Student_UP).
PRETRAINED_STUDENT = 'Student, pre-trained'


def mean_std(values: List[float]) -> str:
    """'12.3' for one value, '12.3 ± 0.4' (sample std) for several; AP in points."""
    points = [100 * v for v in values]
    if len(points) == 1:
        return f'{points[0]:.1f}'
    return f'{statistics.mean(points):.1f} ± {statistics.stdev(points):.1f}'


def metric(records: List[dict], key: str) -> List[float]:
    return [r['metrics'][f'coco/{key}'] for r in records]


def mean_ap(rows: Dict[str, List[dict]], name: str) -> Optional[float]:
    """Mean all-class AP of a row in points, None when the row was not run."""
    if name not in rows:
        return None
    # The mean of the points, as mean_std takes it: the two may round apart otherwise.
    return statistics.mean([100 * v for v in metric(rows[name], 'bbox_mAP')])


def evaluated_once(name: str) -> bool:
    """Rows evaluated once, not trained per seed (the teachers, with their own seed, and the
    Ensemble of them): no seed spread of their own."""
    return name == 'Ensemble' or name.startswith('Teacher_')


def seed_spread(rows: Dict[str, List[dict]]) -> Dict[str, Optional[float]]:
    """Each row's seed spread in AP points.

    * a row with several seeds: its sample std over seeds, but never less than the pooled
      std of all rows with several seeds (root mean of their variances): two or three seeds
      can agree by chance (two Student_slim seeds at 75.7 and 75.7 give std 0), which would
      make any difference to them "real";
    * a trained row with one seed: the largest std of the rows with several (None when no
      row has several);
    * rows :func:`evaluated_once` (teachers, Ensemble): 0.
    """
    own = {name: statistics.stdev([100 * v for v in metric(records, 'bbox_mAP')])
           for name, records in rows.items() if len(records) > 1}
    return {name: 0.0 if evaluated_once(name) else spread_of(own, name) for name in rows}


def spread_of(seeded: Dict[str, float], name: str) -> Optional[float]:
    """The spread of row ``name`` given ``seeded``, the spreads of the rows with several
    seeds: its own, never below their pooled value (root mean square); for a row with one
    seed, the largest of them; None when no row has several seeds."""
    if not seeded:
        return None
    if name in seeded:
        return max(seeded[name], statistics.mean(v ** 2 for v in seeded.values()) ** 0.5)
    return max(seeded.values())


def verdict(diff: float, n: Optional[float], within: Optional[float] = None) -> str:
    """'holds' / '**does not hold**' / 'within noise' of one difference a - b in AP points,
    ``n`` the noise (2 sd; None: unknown, the plain comparison); with ``within``: whether
    |a - b| <= within."""
    if within is not None:
        if abs(diff) <= within:
            return 'holds'
        return '**does not hold**' if n is None or abs(diff) > within + n else 'within noise'
    if n is None:
        return 'holds' if diff > 0 else '**does not hold**'
    return 'holds' if diff > n else '**does not hold**' if diff < -n else 'within noise'


def spread_text(n: Optional[float]) -> str:
    return 'one seed, spread not measured' if n is None else f'2 sd = {n:.1f}'


def premise_findings(rows: Dict[str, List[dict]], partitions: Dict[str, tuple],
                     baseline: str = 'Raw') -> List[str]:
    """The paper's premise, per teacher: Teacher_t, trained on its classes only, beats
    ``baseline`` (trained on all classes) on those classes, AP on partition T<t>. The teacher
    is evaluated once; the noise is 2 x the baseline's largest seed std, over all classes
    and over each teacher's (a std from a few seeds can be 0 by chance on one subset), with
    the floor and the one-seed rule of :func:`seed_spread` (:func:`spread_of`; unknown when
    no trained row has several seeds)."""
    keys = ['bbox_mAP'] + [f'{part}_bbox_mAP' for part in partitions]

    def noise(records: List[dict]) -> float:
        return 2 * max(statistics.stdev([100 * v for v in metric(records, key)])
                       for key in keys)

    seeded = {name: noise(records) for name, records in rows.items()
              if len(records) > 1 and not evaluated_once(name)}
    n = spread_of(seeded, baseline)
    lines = []
    for t, part in enumerate(partitions, 1):
        teacher = f'Teacher_{t}'
        text = f"{teacher} > {baseline} on {teacher}'s classes (the paper's premise)"
        if teacher not in rows or baseline not in rows:
            lines.append(f'- {text}: not run (needs `{teacher}`, `{baseline}`)')
            continue
        own = [100 * v for v in metric(rows[teacher], f'{part}_bbox_mAP')]
        base = [100 * v for v in metric(rows[baseline], f'{part}_bbox_mAP')]
        diff = statistics.mean(own) - statistics.mean(base)
        lines.append(f'- {text}: {verdict(diff, n)} ({statistics.mean(own):.1f} vs '
                     f'{statistics.mean(base):.1f}, {diff:+.1f} AP; {spread_text(n)})')
    return lines


def findings(rows: Dict[str, List[dict]]) -> List[str]:
    """The paper's findings, each checked on the measured all-class AP with its seed spread.

    A difference counts only outside twice the larger seed spread of the two rows
    (:func:`seed_spread`): "a > b" **holds** when ``a - b > 2 sd``, **does not hold** when
    ``a - b < -2 sd``, else it is **within noise**; "within x AP" holds when ``|a - b| <= x``,
    does not hold when ``|a - b| > x + 2 sd``, else within noise. Without any row of several
    seeds the spread is unknown and the verdict is the plain comparison, marked "one seed".
    """
    ap = {name: mean_ap(rows, name) for name in rows}
    sd = seed_spread(rows)

    def noise(a: str, b: str) -> Optional[float]:
        spreads = [sd[a], sd[b]]
        return None if None in spreads else 2 * max(spreads)

    def compare(text: str, a: str, b: str, within: Optional[float] = None) -> str:
        if ap.get(a) is None or ap.get(b) is None:
            return f'- {text}: not run (needs `{a}`, `{b}`)'
        diff, n = ap[a] - ap[b], noise(a, b)
        return (f'- {text}: {verdict(diff, n, within)} ({ap[a]:.1f} vs {ap[b]:.1f}, '
                f'{diff:+.1f} AP; {spread_text(n)})')

    def ordered(text: str, names: List[str]) -> str:
        """names[0] > names[1] > ...: holds when every step holds, does not hold when any
        step does not, else within noise."""
        if any(ap.get(name) is None for name in names):
            return f'- {text}: not run (needs {", ".join(f"`{name}`" for name in names)})'
        pairs = list(zip(names, names[1:]))
        steps = [verdict(ap[a] - ap[b], noise(a, b)) for a, b in pairs]
        result = ('**does not hold**' if '**does not hold**' in steps else
                  'holds' if all(s == 'holds' for s in steps) else 'within noise')
        spreads = [noise(a, b) for a, b in pairs]
        widest = None if None in spreads else max(spreads)
        return (f'- {text}: {result} ({" / ".join(f"{ap[name]:.1f}" for name in names)} AP; '
                f'{spread_text(widest)})')

    return [
        compare('Student > Raw (paper: +5.0 AP on VOC)', 'Student', 'Raw'),
        compare('Student >= Ensemble', 'Student', 'Ensemble'),
        # Paper Table I (VOC): Raw_ext 43.49, 1.45 below Raw: the extended sequence alone
        # does not help, so the Student's +5.0 is the teachers', not the wider network's.
        compare('Student > Raw_ext, the Student\'s network on ground truth only (paper: +6.45 '
                'AP on VOC)', 'Student', 'Raw_ext'),
        # Paper Table V (VOC, Raw 44.94): each term alone helps, both together help most.
        compare('SA only > Raw (paper Table V: +3.03 AP)', 'SA only', 'Raw'),
        compare('TA only > Raw (paper Table V: +2.75 AP)', 'TA only', 'Raw'),
        compare('SA + TA > SA only (paper Table V: +1.97 AP)', 'Student', 'SA only'),
        compare('SA + TA > TA only (paper Table V: +2.25 AP)', 'Student', 'TA only'),
        compare('SA > SAG (Student vs SAG + TA)', 'Student', 'SAG'),
        compare('Raw >= SAG (paper: SAG no better than Raw)', 'Raw', 'SAG'),
        # Table IV (4 teachers) reports only the slim student: +3.17 over Raw, +3.07 over
        # the Ensemble on VOC.
        compare('Student_slim > Raw (paper Table IV: +3.2 AP)', 'Student_slim', 'Raw'),
        compare('Student_slim > Ensemble (paper Table IV: +3.1 AP)', 'Student_slim',
                'Ensemble'),
        compare('Student_slim within 0.5 AP of Student', 'Student_slim', 'Student', within=0.5),
        ordered('redundancy > isometric > random compression',
                ['Student_slim', 'slim isometric', 'slim random']),
        # Paper Table V: label-free SA+TA 1.40 AP below the labelled student.
        compare('label-free (SA+TA) within 1.4 AP of labelled (paper: -1.40)',
                'SA+TA label-free', 'Student', within=1.4),
        # Not claims of the paper: mmka options measured beside it.
        compare('label-free with TA on the two-stage proposals too within 1.4 AP of labelled '
                '(mmka option for DINO, no paper claim)', 'SA+TA label-free, proposal TA',
                'Student', within=1.4),
        compare('label-free with TA on the proposals and every decoder layer within 1.4 AP '
                'of labelled (mmka option for DINO, no paper claim)',
                'SA+TA label-free, proposal TA, every layer', 'Student', within=1.4),
        compare('label-free: TA on every decoder layer >= last layer only (proposal TA both)',
                'SA+TA label-free, proposal TA, every layer', 'SA+TA label-free, proposal TA'),
        compare('label-free, targets at conf > 0.5 within 1.4 AP of labelled (mmka option '
                'for DINO, no paper claim)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5', 'Student', within=1.4),
        compare('label-free: targets at conf > 0.5 >= at 0.1 (proposal TA, every layer both)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5',
                'SA+TA label-free, proposal TA, every layer'),
        compare('label-free, targets at conf > 0.5, denoising from them within 1.4 AP of '
                'labelled (mmka option for DINO, no paper claim)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising', 'Student',
                within=1.4),
        compare('label-free: denoising from the targets >= none (targets at conf > 0.5 both)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5'),
        compare('label-free, TA matched by DETR\'s cost, pairs unweighted, within 1.4 AP of '
                'labelled (mmka diagnostic, no paper claim)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted', 'Student', within=1.4),
        compare('label-free: TA matched by DETR\'s cost, pairs unweighted >= by KL, '
                'conf-weighted (proposals, every layer, conf > 0.5, denoising both)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising'),
        compare('label-free, TA\'s class term DINO\'s focal loss on the argmax labels, within '
                '1.4 AP of labelled (mmka diagnostic, no paper claim)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted, focal', 'Student', within=1.4),
        compare('label-free: TA\'s class term focal on argmax labels >= KL to soft scores '
                '(proposals, every layer, conf > 0.5, denoising, DETR matching, unweighted '
                'both)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted, focal',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted'),
        compare('label-free, focal class term: unmatched queries at weight 1 >= at eq. 11\'s '
                '0.1 (the focal row\'s gain from its background weight, not its loss form)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted, focal',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted, focal, background 0.1'),
        compare('label-free, unmatched queries at 0.1: TA\'s class term focal on argmax '
                'labels >= KL to soft scores (the loss form alone)',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted, focal, background 0.1',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising, DETR '
                'matching, unweighted'),
        compare('label-free, the Student\'s recipe with L_d on the teachers\' targets as '
                'labels, within 1.4 AP of labelled (mmka diagnostic, no paper claim)',
                'SA+TA label-free, targets as labels', 'Student', within=1.4),
        compare('label-free: the Student\'s recipe on the targets as labels >= TA alone '
                '(proposals, every layer, conf > 0.5, denoising)',
                'SA+TA label-free, targets as labels',
                'SA+TA label-free, proposal TA, every layer, conf > 0.5, denoising'),
        # What the label-free rows lose with DINO's denoising loss, measured on Raw.
        compare('Raw > Raw without DINO\'s denoising loss (the term label-free rows lose; no '
                'paper claim)', 'Raw', 'Raw, no denoising'),
        compare('P_slim on X_S in training too >= on X_T (mmka option, no paper claim)',
                'slim, student guide', 'Student_slim'),
        compare('TA on every decoder layer (authors\' code) >= last layer only (paper silent)',
                'Student, TA every layer', 'Student'),
        compare('TA on every decoder layer at total weight 1 (1/L each) >= at weight 1 each '
                '(mmka diagnostic: the every-layer row\'s cost from its TA weight?)',
                'Student, TA every layer, total weight 1', 'Student, TA every layer'),
        compare('code recipe >= paper recipe (no paper claim)', 'Student, code recipe',
                'Student'),
        compare('TA by distillation points >= Hungarian TA (mmka option, no paper claim)',
                'Student, TA by points', 'Student'),
        # KA takes the teachers as given; users ask what their compute would buy Raw.
        compare('Student > Raw at the compute of teachers + Student (no paper claim; users '
                'ask)', 'Student', COMPUTE_MATCHED),
        # Paper Table I (VOC): Student 49.94 under UP-DETR teachers, Raw_UP 51.02. Stated
        # the paper's way round, so that "holds" means "as in the paper".
        compare('Raw from the teachers\' pre-training > Student (paper: Raw_UP 1.1 AP above '
                'the Student on VOC)', PRETRAINED_RAW, 'Student'),
        # Paper Table I: Student_UP 51.64 vs Raw_UP 51.02 on VOC (+0.62), +2.16 on COCO.
        compare('Student > Raw, both from the teachers\' pre-training (paper: Student_UP '
                '+0.62 AP over Raw_UP on VOC)', PRETRAINED_STUDENT, PRETRAINED_RAW),
    ]


def table(rows: Dict[str, List[dict]], partitions: Dict[str, tuple]) -> List[str]:
    """One line per row: mean ± std over its seeds (``seeds``: how many; — for the rows
    :func:`evaluated_once`)."""
    header = (['model', 'seeds', 'AP', 'AP50', 'AP75'] + [f'AP50 {p}' for p in partitions] +
              ['#params (M)', 'FLOPs (G)', 'train (min)'])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, records in rows.items():
        cells = ['—' if evaluated_once(name) else str(len(records))]
        cells += [mean_std(metric(records, k)) for k in AP_KEYS]
        cells += [mean_std(metric(records, f'{p}_bbox_mAP_50')) for p in partitions]
        first = records[0]
        cells.append(f"{first['params'] / 1e6:.2f}" if first.get('params') else '—')
        cells.append(f"{first['flops'] / 1e9:.3f}" if first.get('flops') else '—')
        times = [r['train_seconds'] / 60 for r in records if r.get('train_seconds')]
        cells.append(f'{statistics.mean(times):.1f}' if times else '—')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return lines


def partition_table(rows: Dict[str, List[dict]], partitions: Dict[str, tuple]) -> List[str]:
    """AP (not AP50) of every model on each teacher's classes: whether a teacher, the
    specialist, beats the models trained on all classes on its own classes, the head room
    that amalgamation distils from."""
    header = ['model'] + [f'AP {p}' for p in partitions]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, records in rows.items():
        cells = [mean_std(metric(records, f'{p}_bbox_mAP')) for p in partitions]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return lines


def teacher_table(rows: Dict[str, List[dict]], partitions: Dict[str, tuple]) -> List[str]:
    lines = ['| teacher | classes | AP | AP50 | AP75 |', '|---|---|---|---|---|']
    for t, (part, classes) in enumerate(partitions.items(), 1):
        records = rows[f'Teacher_{t}']
        cells = [mean_std(metric(records, f'{part}_{k}')) for k in AP_KEYS]
        lines.append(f'| Teacher_{t} | {", ".join(classes)} | ' + ' | '.join(cells) + ' |')
    return lines


def curves_figure(rows: Dict[str, List[dict]], family: str = 'conditional-detr'):
    """AP vs epoch of every student (Fig. 4 style), first seed: the matplotlib figure.

    The legend sits below the axes in one column: the tables carry 20 and more rows with
    names of up to a hundred characters, which a legend inside the axes covers the curves
    with and a figure of fixed size cuts off. Colours come from a 20-colour map, so no two
    of the first 20 rows share one.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    plotted = [(name, records[0].get('curve')) for name, records in rows.items()
               if not name.startswith('Teacher') and records[0].get('curve')]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours = plt.get_cmap('tab20').colors
    for i, (name, curve) in enumerate(plotted):
        epochs, aps = [c[0] for c in curve], [100 * c[1] for c in curve]
        ax.plot(epochs, aps, marker='o', markersize=3, label=name,
                color=colours[i % len(colours)], linestyle='-' if i < len(colours) else '--',
                linewidth=2.2 if name in ('Student', 'Raw') else 1.2)
    ax.set_xlabel('epoch')
    ax.set_ylabel('AP, all classes (val)')
    ax.set_title('Learning curves on the embedded shapes data, '
                 f'{FAMILY_NAMES.get(family, family)}')
    ax.grid(alpha=0.3)
    if plotted:
        ax.legend(fontsize=7, ncol=1, loc='upper left', bbox_to_anchor=(0, -0.12),
                  frameon=False)
    return fig


def plot_curves(rows: Dict[str, List[dict]], path: str,
                family: str = 'conditional-detr') -> None:
    """Write :func:`curves_figure` to ``path``, cropped to what it draws (the legend too)."""
    import matplotlib.pyplot as plt
    fig = curves_figure(rows, family)
    fig.savefig(path, dpi=110, bbox_inches='tight')
    plt.close(fig)


def compute_matched_lines(budget: dict) -> List[str]:
    """The breakdown of the compute-matched Raw's epochs, in Raw-epoch equivalents (the
    ``compute_matched_epochs`` record of reproduce_table1.py)."""
    raw_epoch = budget['raw_epoch']

    def gflops(flops: int) -> str:
        return f'{flops / 1e9:.3f}'

    raw = budget['raw']
    lines = [f"Raw, one epoch: 3 x {gflops(raw['flops'])} GFLOPs x {raw['images']} images = "
             f"{raw_epoch / 1e12:.2f} TFLOPs (1 Raw epoch)"]
    pretraining = budget.get('pretraining')
    if pretraining:  # --teacher-init pretrained: shared by the teachers, counted once
        lines.append(f"Pre-training (the teachers' start, counted once): 3 x "
                     f"{gflops(pretraining['flops'])} GFLOPs x {pretraining['images']} images "
                     f"x {pretraining['epochs']} epochs = "
                     f"{budget['pretraining_flops'] / raw_epoch:.2f} Raw epochs")
    for t, (entry, flops) in enumerate(zip(budget['teachers'], budget['teacher_flops']), 1):
        lines.append(f"Teacher_{t}: 3 x {gflops(entry['flops'])} GFLOPs x {entry['images']} "
                     f"images x {entry['epochs']} epochs = {flops / raw_epoch:.2f} Raw epochs")
    student = budget['student']
    teachers = ' + '.join(gflops(t['flops']) for t in budget['teachers'])
    lines.append(f"Student: (3 x {gflops(student['flops'])} + teachers' forward {teachers}) "
                 f"GFLOPs x {student['images']} images x {student['epochs']} epochs = "
                 f"{budget['student_flops'] / raw_epoch:.2f} Raw epochs")
    counted = 'pre-training + teachers + Student' if pretraining else 'teachers + Student'
    lines.append(f"Total ({counted}): {budget['total'] / raw_epoch:.2f} Raw epochs, "
                 f"so `{COMPUTE_MATCHED}` trains E_cm = {budget['epochs']} epochs (rounded up, "
                 'lr step at 5/6)')
    return lines


def compute_matched_text(budget: Optional[dict]) -> List[str]:
    """The report's section on the compute-matched Raw: how it is counted, its breakdown."""
    if not budget:
        return []
    return [
        f'## `{COMPUTE_MATCHED}` (not in the paper; users ask)', '',
        "Raw trained for the training compute of all teachers (with their pre-training, "
        "where they have one) plus the Student; the paper takes the teachers as given. "
        "Training compute of a network for one epoch = 3 x its "
        "forward FLOPs per image (forward + backward ~ 2 x forward) x the training images it "
        "sees per epoch (its train set after the class filter and filter_empty_gt); each "
        "teacher at its own data and epochs; the Student at 3 x its own forward + 1 x every "
        "teacher's forward per image, as generic KA runs the teachers every step. This "
        "benchmark's teacher output cache (teachers run in the first epoch only) is an mmka "
        "speed-up and is not credited, which gives Raw the larger budget. FLOPs per image: the "
        "FLOPs column's counter (one inference-mode forward: no losses, no matching, no DINO "
        "denoising queries, for every network alike).", '',
        *[f'- {line}' for line in compute_matched_lines(budget)], '']


def other_commits(rows: Dict[str, List[dict]], commit: str) -> List[str]:
    """Rows evaluated (and cached) by another mmka commit than ``commit``, e.g.
    ``['`Raw` (unknown)']``; records older than the commit field count as 'unknown'."""
    found = {}
    for name, records in rows.items():
        commits = sorted({r.get('mmka', 'unknown') for r in records} - {commit})
        if commits:
            found[name] = ', '.join(commits)
    return [f'`{name}` ({commits})' for name, commits in found.items()]


def other_machines(rows: Dict[str, List[dict]], here: str) -> List[str]:
    """Rows evaluated on another machine than ``here`` (their committed records, see
    ``records.py``), e.g. ``['`Raw` (AMD EPYC, 2 cores, ..., 2026-12-02)']``; records older
    than the machine field are left out (they were made where the report was)."""
    found = {}
    for name, records in rows.items():
        where = sorted({f"{r['machine']}, {r.get('date', 'undated')}" for r in records
                        if r.get('machine', here) != here})
        if where:
            found[name] = '; '.join(where)
    return [f'`{name}` ({where})' for name, where in found.items()]


def under_teachers_trained_again(rows: Dict[str, List[dict]]) -> List[str]:
    """KA rows (every row but the teachers, the Ensemble and the Raw rows) with a record made
    under other teacher weights than the teachers' records, e.g. ``['`SAG` (Intel ...)']``.

    Checkpoints stay on the machine that trained them, so a KA row trained where they are
    gone learned from the same teacher configs (same keys) trained again, not from the
    teachers in the table; their AP may differ from the recorded one by about a seed's
    spread. A record that names its teachers' weights (``teachers``, see
    ``reproduce_table1.teacher_weights``) counts when one of them is not the weights the
    teachers' records name (records from before that field name none): its machine and date
    are given, as the machine may be the teachers' by name. An older record counts when its
    machine is none of the teachers' records' machines."""
    weights, machines = {}, set()
    for name, records in rows.items():
        if evaluated_once(name):
            for r in records:
                weights.update(r.get('teachers') or {})
                machines.add(r.get('machine'))
    machines.discard(None)

    def where(record: dict) -> Optional[str]:
        if 'teachers' in record:
            other = any(weights.get(t) != w for t, w in record['teachers'].items())
            return f"{record.get('machine', '?')}, {record.get('date', 'undated')}" \
                if other else None
        made = record.get('machine')
        return made if machines and made and made not in machines else None

    found = {}
    for name, records in rows.items():
        if evaluated_once(name) or name.startswith('Raw'):
            continue
        places = sorted({where(r) for r in records} - {None})
        if places:
            found[name] = '; '.join(places)
    return [f'`{name}` ({places})' for name, places in found.items()]


def provenance_of_cache(rows: Dict[str, List[dict]], commit: str,
                        here: Optional[str] = None) -> List[str]:
    """The report lines naming rows cached from another commit than ``commit`` and rows
    measured on another machine than ``here``, or no lines."""
    others = other_commits(rows, commit)
    lines = [f'Evaluated by other commits (cached): {", ".join(others)}.  '] if others else []
    elsewhere = other_machines(rows, here) if here else []
    if elsewhere:
        lines.append(f'Measured on other machines (committed records): '
                     f'{", ".join(elsewhere)}.  ')
    again = under_teachers_trained_again(rows)
    if again:
        lines.append("Trained under the teachers trained again, not the weights of the "
                     "teachers' records (same configs and keys; checkpoints do not travel): "
                     f'{", ".join(again)}.  ')
    return lines


def trained_at_once(args) -> str:
    """How the models this invocation trains share the CPU, for the train time column: a
    ``--report-only`` run trains none (every time in its table is a cached one)."""
    if getattr(args, 'report_only', False):
        return 'this invocation trains none (--report-only)'
    return f'this invocation trains {args.jobs or os.cpu_count()} at once'


def write_report(args, size: dict, rows: Dict[str, List[dict]], partitions: Dict[str, tuple],
                 minutes: float, precisions: Optional[Dict[str, Optional[str]]] = None,
                 compute_matched: Optional[dict] = None, commit: Optional[str] = None,
                 not_trained: Optional[List[str]] = None,
                 pretraining: Optional[str] = None) -> None:
    """Write ``args.out`` (markdown) and its ``_curves.png``; ``size``: the schedule used
    (a :data:`SIZES` entry with the ``teacher_epochs`` / ``student_epochs`` actually run).

    ``precisions``: the teachers' precision of each row's config, by row name
    (:func:`mmka.utils.teacher_precision`), for the provenance line. ``compute_matched``: the
    budget of the ``--compute-matched`` row, whose breakdown goes under the table.
    ``commit``: the mmka commit the run started at (default: HEAD now). ``not_trained``:
    the rows (with seeds) a ``--report-only`` run found untrained, named under the table.
    ``pretraining``: the sentence on the teachers' pre-training (``--teacher-init
    pretrained``), under the schedule.
    """
    commit = commit or mmka_commit()
    png = osp.splitext(args.out)[0] + '_curves.png'
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    family = getattr(args, 'family', 'conditional-detr')
    plot_curves(rows, png, family)
    command = 'python benchmarks/reproduce_table1.py ' + shlex.join(sys.argv[1:]) \
        if sys.argv and sys.argv[0].endswith('reproduce_table1.py') else \
        (f'python benchmarks/reproduce_table1.py --partition {args.partition} '
         f'--family {family} --size {args.size} --teacher-epochs {size["teacher_epochs"]} '
         f'--student-epochs {size["student_epochs"]}'
         + (' --teacher-init pretrained' if pretraining else '')
         + (' --compute-matched' if compute_matched else ''))
    matched = f" (`{COMPUTE_MATCHED}`: {compute_matched['epochs']})" if compute_matched else ''
    lines = [
        f'# Table I in miniature: {args.partition}, {FAMILY_NAMES.get(family, family)}, '
        f'size {args.size}', '',
        f'Command: `{command}`  ',
        f'Machine: {machine()}; {time.strftime("%Y-%m-%d")}; this invocation '
        f'{minutes:.1f} min (cached models are not retrained).  ',
        f'Provenance: {provenance(args.seeds, precisions, commit)}.  ',
        *provenance_of_cache(rows, commit, machine()),
        f"Schedule: teachers {size['teacher_epochs']} epochs, every student "
        f"{size['student_epochs']}{matched} epochs (lr step at 5/6), {size['num_train']} "
        f"train / {size['num_val']} val images; seeds {args.seeds} (the teachers: seed "
        f"{args.teacher_seed}).  ",
        *([pretraining + '  '] if pretraining else []),
        'AP in points on the val split, all 20 classes unless stated; "AP50 T<i>": on '
        "teacher i's classes. #params / FLOPs: the deployed network (a student without its "
        "teachers) on one 128x128 image. Train time: wall minutes of the training epochs "
        "(validation excluded) as measured when the model was trained: "
        f"{trained_at_once(args)}, and a cached model keeps the time of "
        "the invocation that trained it, which may have shared the CPU with other jobs. "
        "KA rows trained by this script read their teachers' outputs from a float32 teacher "
        "output cache after their first epoch (the embedded pipeline is deterministic; the "
        "same training as running the teachers, so their train time is the cached one).", '',
        '## Teachers on their own classes', '', *teacher_table(rows, partitions), '',
        '## All models on all classes', '', *table(rows, partitions), '',
        *([f'Not trained yet, so not in the table: {", ".join(not_trained)}.', '']
          if not_trained else []),
        '## AP on each teacher\'s classes', '',
        'The paper\'s premise: a teacher, trained on its classes only, is stronger on them '
        'than a model trained on all classes (Raw), and amalgamation passes that on.', '',
        *partition_table(rows, partitions), '',
        f'Learning curves: `{osp.basename(png)}`', '',
        *compute_matched_text(compute_matched),
        '## The paper\'s findings, checked', '',
        'A difference counts only outside 2 sd, sd the larger seed spread (sample std of AP '
        'over seeds) of the two rows; a row\'s spread is never less than the pooled std of the '
        'rows trained with several seeds (a few seeds can agree by chance), a row trained with '
        'one seed takes the largest spread of those rows, the Ensemble none. Verdicts: holds '
        '/ **does not hold** / within noise.', '', *premise_findings(rows, partitions),
        *(premise_findings(rows, partitions, PRETRAINED_RAW) if PRETRAINED_RAW in rows else []),
        *findings(rows), '']
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines))
    print('\n'.join(lines))
