"""Cost of the KA-DETR student's extended sequence (not a test: prints ratios from one run).

1. Encoder forward+backward time for N = 1, 2, 4, 8 teachers, block-diagonal attention by
   folding the segments into the batch vs an explicit (N·n)² mask (paper eqs. 3-4).
2. Inference time of the compressed student (Student_slim architecture, Alg. 1) vs Raw DETR.
3. Params and FLOPs of Raw, Raw_ext and slim (paper Table I columns), counted by
   ``mmengine.analysis.get_model_complexity_info`` via ``mmka.utils.complexity`` (fvcore-style
   jit-trace op counting; one multiply-add counts as one FLOP), as tools/analysis/get_flops.py.

Usage:
    OMP_NUM_THREADS=2 python benchmarks/student_encoder.py [--device cuda] [--seed 0]

Models and inputs are drawn after ``torch.manual_seed(--seed)``; the results file states the
seed and the mmka commit (no teachers run here).
"""
import argparse
import copy
import datetime
import os
import os.path as osp
import shlex
import statistics
import sys
import time
from functools import partial

import torch
from mmengine.config import Config

from mmdet.models.layers import DetrTransformerEncoder
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import mmka  # noqa: F401
from mmka.models.layers import block_encoder_forward
from mmka.utils import cpu_name, provenance
from mmka.utils.complexity import dummy_data_samples, model_complexity

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHAPES = osp.join(REPO, 'configs/baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py')
VOC = osp.join(REPO, 'configs/baselines/detr_r50_4xb8-150e_voc0712.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--tokens', type=int, default=400,
                        help='n, tokens per segment for the encoder timing (20x20 map)')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--image-sizes', type=int, nargs='+', default=[128, 320],
                        help='square image sizes for the slim/raw inference timing')
    parser.add_argument('--seed', type=int, default=0,
                        help='torch.manual_seed before building models and inputs (default 0)')
    parser.add_argument('--note', default='', help='context for the results file, e.g. load')
    parser.add_argument('--out', default=osp.join(REPO, 'benchmarks/results/student_encoder.md'))
    return parser.parse_args()


def wall(fn, device):
    """Seconds one call of ``fn()`` takes (device work included)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def encoder_timings(args, device):
    """Encoder fwd+bwd seconds per (N, mode), with the shapes model's encoder (128 dims,
    4 heads, FFN 512, 2 layers). Settings are interleaved round by round, as below."""
    torch.manual_seed(args.seed)
    model_cfg = Config.fromfile(SHAPES).model
    encoder = DetrTransformerEncoder(**copy.deepcopy(model_cfg.encoder)).to(device)
    dims, n = encoder.embed_dims, args.tokens
    steps = {}
    for num in (1, 2, 4, 8):
        x = torch.randn(args.batch, num * n, dims, device=device, requires_grad=True)
        pos = torch.randn(args.batch, n, dims, device=device).repeat(1, num, 1)
        for mode in ('folded', 'masked'):
            steps[num, mode] = partial(_encoder_step, encoder, x, pos, num, mode)
    return interleaved(steps, device, args.repeats)


def _encoder_step(encoder, x, pos, num, mode):
    out = block_encoder_forward(encoder, x, pos, None, num, mode)
    out.square().mean().backward()


def interleaved(fns, device, repeats):
    """Median seconds of each ``fns[key]()``, timed round-robin so that load drifting over
    the run (other jobs, frequency changes) affects every setting alike."""
    for fn in fns.values():
        fn()  # warm-up
    times = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            times[key].append(wall(fn, device))
    return {key: statistics.median(t) for key, t in times.items()}


def _samples(batch, size):
    return dummy_data_samples(batch, size, size)


def build_variants(config, student_type, seed):
    """Raw, Raw_ext (N=2) and slim (N=2, redundancy compression) models of ``config``."""
    base = Config.fromfile(config).model
    ext = copy.deepcopy(base)
    ext.update(type=student_type, num_teachers=2)
    slim = copy.deepcopy(ext)
    slim.update(compression=dict(strategy='redundancy'))
    models = {}
    for name, cfg in (('Raw', base), ('Raw_ext', ext), ('slim', slim)):
        torch.manual_seed(seed)
        models[name] = MODELS.build(cfg).eval()
    return models


@torch.no_grad()
def _predict(model, imgs, samples):
    return model.predict(imgs, copy.deepcopy(samples))


def inference_timings(args, device, models):
    """predict() seconds per (model, image size), interleaved."""
    fns = {}
    for size in args.image_sizes:
        imgs = torch.rand(args.batch, 3, size, size, device=device)
        samples = _samples(args.batch, size)
        for name, model in models.items():
            fns[name, size] = partial(_predict, model, imgs, samples)
    return interleaved(fns, device, args.repeats)


def complexity(models, size, device):
    """(params, FLOPs) per model at a size x size input, batch 1."""
    out = {}
    for name, model in models.items():
        info = model_complexity(model, (size, size), device)
        out[name] = (info['params'], info['flops'])
    return out


def machine(device):
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'{cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}'


def report(args, enc, inf, flops):
    lines = ['## Encoder forward+backward (median seconds)', '',
             f'B={args.batch}, n={args.tokens} tokens per segment, shapes-model encoder '
             '(128 dims, 4 heads, FFN 512, 2 layers)', '',
             '| N | folded | masked | masked / folded |', '|---|---|---|---|']
    for num in (1, 2, 4, 8):
        f, m = enc[num, 'folded'], enc[num, 'masked']
        lines.append(f'| {num} | {f:.4f} | {m:.4f} | {m / f:.2f} |')
    lines += ['', f'folded N=4 / N=1: {enc[4, "folded"] / enc[1, "folded"]:.2f} '
              '(target <= 4.4)',
              f'masked N=4 / N=1: {enc[4, "masked"] / enc[1, "masked"]:.2f}', '',
              '## Inference, predict() (median seconds, batch '
              f'{args.batch}, shapes tiny Conditional DETR)', '',
              '| image | Raw | Raw_ext (N=2) | slim (N=2) | slim / Raw | Raw_ext / Raw |',
              '|---|---|---|---|---|---|']
    for size in args.image_sizes:
        r, e, s = (inf[k, size] for k in ('Raw', 'Raw_ext', 'slim'))
        lines.append(f'| {size} px | {r:.4f} | {e:.4f} | {s:.4f} | {s / r:.3f} | {e / r:.3f} |')
    lines += ['', 'slim / Raw target <= 1.05', '',
              '## Params and FLOPs (mmengine.analysis.get_model_complexity_info, batch 1)', '',
              '| model | input | variant | params | FLOPs (multiply-adds) |',
              '|---|---|---|---|---|']
    for (model, size), table in flops.items():
        for name, (params, fl) in table.items():
            lines.append(f'| {model} | {size} px | {name} | {params / 1e6:.3f} M | '
                         f'{fl / 1e9:.3f} G |')
    return '\n'.join(lines)


def main():
    args = parse_args()
    register_all_modules(init_default_scope=True)
    device = torch.device(args.device)
    print(f'[student_encoder] {provenance([args.seed], {})}', flush=True)
    enc = encoder_timings(args, device)
    shapes_models = {k: m.to(device) for k, m in
                     build_variants(SHAPES, 'KAConditionalDETRStudent', args.seed).items()}
    inf = inference_timings(args, device, shapes_models)
    flops = {('shapes tiny Conditional DETR', 128): complexity(shapes_models, 128, device)}
    voc_models = {k: m.to(device)
                  for k, m in build_variants(VOC, 'KADETRStudent', args.seed).items()}
    flops['VOC DETR-R50', 512] = complexity(voc_models, 512, device)
    body = report(args, enc, inf, flops)
    header = ['# Student encoder and compression benchmark', '',
              f'- command: `OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "unset")} '
              f'python {shlex.join(sys.argv)}`',
              f'- machine: {machine(device)}',
              f'- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}',
              f'- torch {torch.__version__}, device {device}',
              f'- provenance: {provenance([args.seed], {})}']
    if args.note:
        header.append(f'- note: {args.note}')
    header.append('')
    text = '\n'.join(header) + '\n' + body + '\n'
    print(text)
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
