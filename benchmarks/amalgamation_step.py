"""Training-step cost of knowledge amalgamation vs training the student alone.

    python benchmarks/amalgamation_step.py [--config configs/ka/shapes_2t.py] [--steps 20]
                                           [--batch-size 16] [--device cpu|cuda] [--seed 0]
                                           [--epochs 6] [--train-images 2000]

From one amalgamation config it builds Raw (the student's detector without sequence
extension, ground truth only), Raw_ext (the extended student, ground truth only) and KA (the
amalgamator: frozen teachers + extended student + its hooks). Each runs ``--steps``
optimizer steps, after 3 warm-up steps, on the same real batches of the embedded data, all
models in one process with their steps interleaved (a shared machine that slows down for a
while slows every model alike, so the ratios hold). It prints median step times, the ratio KA / Raw (paper anchor: 41 h / 25 h = 1.64; target
<= 1.35), the share of the KA step spent in TA's Hungarian matching (target <= 5 %), and peak
memory (GPU: ``torch.cuda.max_memory_allocated``; CPU: peak RSS of a separate process per
model). Teacher weights do not change the cost, so randomly initialised teachers are used.
Each model is built and initialised after ``set_random_seed(--seed)``; the
report states the seed, the mmka commit and the teachers' precision of each KA variant.

KA, cached: the amalgamator with a teacher output cache (float16, in a temporary
directory). All models make two passes over the batches: in the first the cached KA fills
its cache (the first epoch's cost: the teachers run and their outputs are written), the
second is timed and reads it. Afterwards each of the first batches is also run without the
cache, under the same seed, to measure the losses' relative difference from float16
storage. The report extrapolates the whole
training time of a KA student of ``--epochs`` epochs over ``--train-images`` images (the
embedded Table I student's schedule by default) with and without the cache.
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import set_random_seed

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402

import mmka  # noqa: E402,F401
from mmka.datasets import ensure_shapes_dataset  # noqa: E402
from mmka.models.losses import TaskAmalgamationLoss  # noqa: E402
from mmka.utils import cpu_name, native_bf16, provenance, set_data_root  # noqa: E402

VARIANTS = ('raw', 'raw_ext', 'ka', 'ka_cheap', 'ka_cached')
EXACTNESS_BATCHES = 4
PLAIN_DETECTOR = dict(KADETRStudent='DETR', KAConditionalDETRStudent='ConditionalDETRAnyDim',
                      KADABDETRStudent='DABDETR')


def build_model(cfg: Config, variant: str, tmp: str, device: torch.device,
                cache_dir: str = '') -> torch.nn.Module:
    student = cfg.model.student.to_dict()
    if variant == 'raw':
        for key in ('num_teachers', 'encoder_attention', 'compression'):
            student.pop(key, None)
        student['type'] = PLAIN_DETECTOR[student['type']]
    if not variant.startswith('ka'):
        return MODELS.build(student)
    teachers = []
    os.makedirs(tmp, exist_ok=True)
    for i, teacher in enumerate(cfg.model.teachers):
        teacher_cfg = Config.fromfile(osp.join(REPO, teacher['config']))
        model = MODELS.build(teacher_cfg.model)
        model.init_weights()
        path = osp.join(tmp, f'teacher{i}.pth')
        torch.save(dict(state_dict=model.state_dict()), path)
        teachers.append(dict(config=osp.join(REPO, teacher['config']), checkpoint=path))
    hooks = [dict(h) for h in cfg.model.hooks]
    for hook in hooks:  # untrained teachers are never confident: match the most targets
        if hook['type'] == 'TaskAmalgamation':
            hook['targets'] = dict(hook.get('targets', {}), score_thr=0.0)
    model = dict(cfg.model.to_dict(), teachers=teachers, hooks=hooks)
    if variant == 'ka_cheap':  # mmka.utils.use_cheap_teachers; on a GPU, AMP gives fp16
        bf16 = device.type == 'cpu' and native_bf16()
        model.update(teacher_channels_last=True, teacher_dtype='bfloat16' if bf16 else None)
    if variant == 'ka_cached':
        model.update(teacher_cache=dict(dir=cache_dir, dtype='float16'))
    model = MODELS.build(model)
    if variant == 'ka_cached':
        model.teacher_cache.check_pipeline(cfg.train_dataloader.dataset.pipeline)
    return model


def cfg_teachers(config: str) -> list:
    return Config.fromfile(config).model.teachers


def batches(cfg: Config, batch_size: int, count: int):
    """``count`` real training batches (lists of packed samples) of the embedded data."""
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    items = [dataset[i % len(dataset)] for i in range(batch_size * count)]
    return [dict(inputs=[d['inputs'] for d in items[k:k + batch_size]],
                 data_samples=[d['data_samples'] for d in items[k:k + batch_size]])
            for k in range(0, len(items), batch_size)]


def measure(args, variants: List[str]) -> Dict[str, dict]:
    """Step time, TA matching time and peak memory of each of ``variants``; ``teachers``:
    the precision its teachers ran in (None without teachers).

    With several variants, their steps are interleaved (step k of every model, then step
    k + 1), so that a machine slowed down for a while slows all of them alike; their
    peak memory is then the process's, shared (measure one variant per process for it).
    """
    register_all_modules()
    cfg = set_data_root(Config.fromfile(args.config), args.data_root.rstrip('/') + '/')
    device = torch.device(args.device)
    cache_dir = tempfile.TemporaryDirectory()
    # The teachers' checkpoints live as long as the models: the teacher output cache reads
    # (hashes) them at its first step, not when it is built.
    teacher_dir = tempfile.TemporaryDirectory()
    models, optims, extra = {}, {}, {v: {} for v in variants}
    data = batches(cfg, args.batch_size, 3 + args.steps)
    for variant in variants:
        set_random_seed(args.seed)
        model = build_model(cfg, variant, osp.join(teacher_dir.name, variant), device,
                            cache_dir.name).to(device)
        model.init_weights() if not variant.startswith('ka') else model.student.init_weights()
        model.train()
        models[variant] = model
        optims[variant] = build_optim_wrapper(model, cfg.optim_wrapper)
    matching = {v: [] for v in variants}
    current = [None]
    original_assign = TaskAmalgamationLoss.assign

    def timed_assign(self, *a, **k):  # Hungarian matching of TA, timed per call
        start = time.perf_counter()
        out = original_assign(self, *a, **k)
        matching[current[0]].append(time.perf_counter() - start)
        return out

    TaskAmalgamationLoss.assign = timed_assign
    times = {v: [] for v in variants}
    fill = []
    # With the cached KA: pass 0 fills its cache (the first epoch), pass 1 reads it.
    passes = 2 if 'ka_cached' in variants else 1
    for pass_ in range(passes):
        for step, batch in enumerate(data):
            if step == 3 and pass_ == passes - 1:
                for calls in matching.values():
                    calls.clear()
                if device.type == 'cuda':
                    torch.cuda.reset_peak_memory_stats()
            for variant in variants:
                current[0] = variant
                seconds = train_step(models[variant], optims[variant], batch, device)
                if step >= 3 and pass_ == passes - 1:
                    times[variant].append(seconds)
                elif step >= 3 and variant == 'ka_cached':
                    fill.append(seconds)
    TaskAmalgamationLoss.assign = original_assign
    if 'ka_cached' in variants:
        model = models['ka_cached']
        extra['ka_cached'] = dict(
            compare_cached(model, data, device), fill_step=statistics.median(fill),
            bytes_per_image=sum(
                osp.getsize(osp.join(d, f)) for d, _, files in os.walk(cache_dir.name)
                for f in files if f.endswith('.bin')) / len({
                    s.metainfo['img_id'] for batch in data for s in batch['data_samples']}))
    peak = (torch.cuda.max_memory_allocated() if device.type == 'cuda'
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    results = {}
    for variant, model in models.items():
        # The steps run outside optim_context, so only teacher_dtype changes their precision.
        teachers = (model.teacher_dtype or 'float32') if variant.startswith('ka') else None
        if variant == 'ka_cached':
            extra[variant].update(hits=model.teacher_cache.stats['hits'],
                                  misses=model.teacher_cache.stats['misses'])
        results[variant] = dict(
            step=statistics.median(times[variant]),
            matching=sum(matching[variant]) / len(times[variant]), peak_mb=peak / 2**20,
            teachers=teachers, **extra[variant])
    cache_dir.cleanup()
    teacher_dir.cleanup()
    return results


def run_child(args, variants: List[str]) -> Dict[str, dict]:
    """:func:`measure` in a fresh process (its own peak memory), results by variant."""
    cmd = [sys.executable, __file__, '--variants', ','.join(variants), '--config',
           args.config, '--data-root', args.data_root, '--steps', str(args.steps),
           '--batch-size', str(args.batch_size), '--device', args.device, '--seed',
           str(args.seed)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:  # the child's traceback, which capture_output would swallow
        tail = '\n'.join(done.stderr.strip().splitlines()[-30:])
        raise RuntimeError(f'amalgamation_step child {variants} failed (exit '
                           f'{done.returncode}); its stderr ends:\n{tail}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def train_step(model, optim, batch: dict, device: torch.device) -> float:
    """One optimizer step; its wall seconds."""
    start = time.perf_counter()
    batch = model.data_preprocessor(batch, training=True)
    losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    optim.update_params(loss)
    if device.type == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare_cached(model, data: list, device: torch.device) -> dict:
    """Cached vs uncached losses of the first batches, same seed, no optimizer step."""
    worst = dict(sa=0.0, ta=0.0)
    for batch in data[:EXACTNESS_BATCHES]:
        batch = model.data_preprocessor(batch, training=True)
        results, cache = [], model.teacher_cache
        for use in (None, cache):
            model.teacher_cache = use
            torch.manual_seed(0)
            with torch.no_grad():
                results.append(model(**batch, mode='loss'))
        model.teacher_cache = cache
        for key, reference in results[0].items():
            kind = key.split('loss_')[-1][:2]  # 'sa' / 'ta' (the terms read from teachers)
            if kind in worst and reference.abs() > 0:
                error = ((results[1][key] - reference).abs() / reference.abs()).item()
                worst[kind] = max(worst[kind], error)
    return dict(sa_rel_error=worst['sa'], ta_rel_error=worst['ta'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=osp.join(REPO, 'configs/ka/shapes_2t.py'))
    parser.add_argument('--data-root', default=osp.join(REPO, 'data/shapes'))
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0,
                        help='set_random_seed before building each model (default 0)')
    parser.add_argument('--epochs', type=int, default=6,
                        help='KA schedule for the whole-training estimate (default 6: the '
                        'embedded Table I students)')
    parser.add_argument('--train-images', type=int, default=2000,
                        help='training images for the whole-training estimate (default 2000)')
    parser.add_argument('--variants', help=argparse.SUPPRESS)
    parser.add_argument('--out', default=osp.join(REPO, 'benchmarks/results/amalgamation_step.md'))
    args = parser.parse_args(argv)
    if args.variants:  # child process: the models, results as JSON on stdout
        print(json.dumps(measure(args, args.variants.split(','))))
        return
    ensure_shapes_dataset(args.data_root)
    print(f'[amalgamation_step] {provenance([args.seed])}', flush=True)
    results = run_child(args, list(VARIANTS))  # step times: all models interleaved
    for variant in VARIANTS:  # peak memory: one process per model
        results[variant]['peak_mb'] = run_child(args, [variant])[variant]['peak_mb']
        print(f'{variant}: {results[variant]}', flush=True)
    raw, ext, ka, cheap, cached = (results[v] for v in VARIANTS)
    bf16 = cheap['teachers'] == 'bfloat16'  # as the measuring process chose
    device = (torch.cuda.get_device_name() if args.device == 'cuda'
              else f'{cpu_name()}, {os.cpu_count()} cores')
    command = (f'python benchmarks/amalgamation_step.py --config '
               f'{osp.relpath(args.config, REPO)} --steps {args.steps} --batch-size '
               f'{args.batch_size} --device {args.device} --seed {args.seed} --epochs '
               f'{args.epochs} --train-images {args.train_images}')
    steps_per_epoch = -(-args.train_images // args.batch_size)
    uncached_hours = args.epochs * steps_per_epoch * cheap['step'] / 3600
    cached_hours = steps_per_epoch * (cached['fill_step'] + (args.epochs - 1) * cached['step']) \
        / 3600
    lines = [
        '# Amalgamation training-step cost', '',
        f'Command: `{command}`  ',
        f'Device: {device}; torch {torch.__version__}; {time.strftime("%Y-%m-%d")}; '
        f'median of {args.steps} steps after 3 warm-up steps, batch {args.batch_size}; the '
        'models\' steps interleaved in one process (step times), each model alone in a '
        'process (peak memory).  ',
        'Provenance: ' + provenance([args.seed], {'KA': ka['teachers'],
                                                  'KA, cheap teachers': cheap['teachers']})
        + '.', '',
        '| model | step (s) | peak memory (MiB) |', '|---|---|---|',
        f"| Raw (plain student, GT) | {raw['step']:.3f} | {raw['peak_mb']:.0f} |",
        f"| Raw_ext (extended student, GT) | {ext['step']:.3f} | {ext['peak_mb']:.0f} |",
        f"| KA (2 teachers + extended student) | {ka['step']:.3f} | {ka['peak_mb']:.0f} |",
        f"| KA, cheap teachers (channels-last{', bf16' if bf16 else ''}) | "
        f"{cheap['step']:.3f} | {cheap['peak_mb']:.0f} |",
        f"| KA, cached teacher outputs (float16; after the first epoch) | "
        f"{cached['step']:.3f} | {cached['peak_mb']:.0f} |",
        f"| KA, cached: first-epoch step (teachers run, outputs written) | "
        f"{cached['fill_step']:.3f} | — |", '',
        f"- KA / Raw step time: **{ka['step'] / raw['step']:.2f}** (target <= 1.35; paper 1.64); "
        f"with cheap teachers (`mmka.utils.use_cheap_teachers`, what tools/demo.py and "
        f"benchmarks/reproduce_table1.py use): **{cheap['step'] / raw['step']:.2f}**",
        f"- Raw_ext / Raw step time: {ext['step'] / raw['step']:.2f}",
        f"- **KA-cached / Raw step time: {cached['step'] / raw['step']:.2f}** (goal <= 1.25); "
        f"first-epoch fill step / uncached KA step: {cached['fill_step'] / ka['step']:.2f}; "
        f"the timed steps read every teacher output ({cached['hits']} reads, "
        f"{cached['misses']} fills in that process)",
        f"- cache size: {cached['bytes_per_image'] / 2**10:.1f} KiB per image (all "
        f"{len(cfg_teachers(args.config))} teachers), "
        f"{cached['bytes_per_image'] * args.train_images / 2**20:.0f} MiB for "
        f"{args.train_images} training images",
        f"- float16 storage, cached vs uncached loss terms on the same {EXACTNESS_BATCHES} "
        f"batches and seed, largest relative difference: SA {cached['sa_rel_error']:.1e}, TA "
        f"{cached['ta_rel_error']:.1e} (the ground-truth terms are identical; random teachers "
        "give nearly tied scores, so rounding can change which predictions become TA targets)",
        f"- whole training, {args.epochs} epochs x {steps_per_epoch} steps (extrapolated from "
        f"these medians): KA with cheap teachers {uncached_hours * 60:.0f} min, KA cached "
        f"{cached_hours * 60:.0f} min (x{cached_hours / uncached_hours:.2f})",
        f"- TA matching share of the KA step: **{100 * ka['matching'] / ka['step']:.1f} %** "
        '(target <= 5 %)',
        f"- peak memory KA / Raw: {ka['peak_mb'] / raw['peak_mb']:.2f} "
        '(' + ('GPU allocator' if args.device == 'cuda'
               else 'process RSS, includes the Python runtime') + ')',
    ]
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
