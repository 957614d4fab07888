"""Cost of the multi-scale KA student (DINO) (not a test: prints ratios from one run).

1. Transformer forward+backward time (encoder, two-stage proposals, decoder with the
   denoising queries, head) of ``KADINOStudent`` for N = 1, 2, 4 segments, from fixed
   multi-level projections: the part whose cost the extended sequence changes. Goal: N=4 /
   N=1 <= 4.4 (linear in N: the encoder is folded, the decoder's deformable attention samples
   a fixed number of points per level).
2. Inference time (``predict``) of the DINO Raw, Raw_ext (N=2) and slim (N=2, Alg. 1 per
   level) at two image sizes. Goal: slim / Raw <= 1.05.
3. Params and FLOPs of the three (``mmka.utils.complexity``; the CPU fallback of mmcv's
   deformable attention is counted as the traced ops it is made of).

Usage:
    OMP_NUM_THREADS=2 python benchmarks/multiscale_student.py [--seed 0] [--note ...]

Settings are timed round-robin (medians), so load drifting over the run affects all alike.
"""
import argparse
import copy
import datetime
import os
import os.path as osp
import shlex
import sys
from functools import partial

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import mmka  # noqa: E402,F401
from mmka.utils import provenance  # noqa: E402
from mmka.utils.complexity import dummy_data_samples, model_complexity  # noqa: E402
from student_encoder import interleaved, machine  # noqa: E402

DINO = osp.join(REPO, 'configs/baselines/dino_r18tiny_1xb16-12e_shapes.py')
SEGMENTS = (1, 2, 4)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--train-sizes', type=int, nargs='+', default=[128, 320],
                        help='square image sizes of the transformer timing (128 px: the '
                        'embedded data, 336 tokens per segment; 320 px: 2100)')
    parser.add_argument('--image-sizes', type=int, nargs='+', default=[128, 320])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--note', default='', help='context for the results file, e.g. load')
    parser.add_argument('--out',
                        default=osp.join(REPO, 'benchmarks/results/multiscale_student.md'))
    return parser.parse_args()


def build(num_teachers=None, compression=None, seed=0):
    """The tiny DINO (``num_teachers=None``) or its KA student, from the same seed."""
    cfg = copy.deepcopy(Config.fromfile(DINO).model)
    if num_teachers is not None:
        cfg.update(type='KADINOStudent', num_teachers=num_teachers)
        if compression:
            cfg.compression = compression
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _samples(batch, size, device, num_gt=4):
    """Data samples with a few ground-truth boxes (DINO's training forward needs them)."""
    samples = dummy_data_samples(batch, size, size)
    g = torch.Generator().manual_seed(0)
    for s in samples:
        xy = torch.rand(num_gt, 2, generator=g) * size / 2
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + size / 4], 1).to(device),
            labels=torch.randint(0, 20, (num_gt, ), generator=g).to(device))
    return samples


def _transformer_step(model, feats, samples):
    head_inputs = model.forward_transformer(feats, samples)
    cls, boxes = model.bbox_head(head_inputs['hidden_states'], head_inputs['references'])
    (cls.square().mean() + boxes.square().mean()).backward()


def transformer_timings(args, device):
    """fwd+bwd seconds of the student's transformer per (N, image size), from fixed
    projections; and the tokens per segment of each size."""
    steps, tokens = {}, {}
    models = {num: build(num, seed=args.seed).to(device).train() for num in SEGMENTS}
    for size in args.train_sizes:
        imgs = torch.rand(args.batch, 3, size, size, device=device)
        samples = _samples(args.batch, size, device)
        for num, model in models.items():
            with torch.no_grad():
                feats = tuple(f.detach().requires_grad_() for f in model.extract_feat(imgs))
            tokens[size] = sum(f.shape[-2] * f.shape[-1] for f in feats) // num
            steps[num, size] = partial(_transformer_step, model, feats, samples)
    return interleaved(steps, device, args.repeats), tokens


@torch.no_grad()
def _predict(model, imgs, samples):
    return model.predict(imgs, copy.deepcopy(samples))


def variants(seed, device):
    return {name: model.to(device).eval() for name, model in (
        ('Raw', build(seed=seed)), ('Raw_ext', build(2, seed=seed)),
        ('slim', build(2, dict(strategy='redundancy'), seed=seed)))}


def inference_timings(args, device, models):
    fns = {}
    for size in args.image_sizes:
        imgs = torch.rand(args.batch, 3, size, size, device=device)
        samples = dummy_data_samples(args.batch, size, size)
        for name, model in models.items():
            fns[name, size] = partial(_predict, model, imgs, samples)
    return interleaved(fns, device, args.repeats)


def report(args, trans, tokens, inf, flops):
    lines = ['## Transformer forward+backward (median seconds)', '',
             f'B={args.batch}, the tiny DINO (128 dims, 4 heads, 2 encoder / 3 decoder '
             'layers, 30 queries + denoising queries), from fixed projections; tokens per '
             'segment over the 3 levels in brackets', '',
             '| image | N | seconds | / N=1 |', '|---|---|---|---|']
    for size in args.train_sizes:
        for num in SEGMENTS:
            t = trans[num, size]
            lines.append(f'| {size} px ({tokens[size]}) | {num} | {t:.4f} | '
                         f'{t / trans[1, size]:.2f} |')
    lines += [''] + [f'N=4 / N=1 at {size} px: {trans[4, size] / trans[1, size]:.2f} '
                     '(goal <= 4.4)' for size in args.train_sizes] + ['',
              f'## Inference, predict() (median seconds, batch {args.batch}, tiny DINO)', '',
              '| image | Raw | Raw_ext (N=2) | slim (N=2) | slim / Raw | Raw_ext / Raw |',
              '|---|---|---|---|---|---|']
    for size in args.image_sizes:
        r, e, s = (inf[k, size] for k in ('Raw', 'Raw_ext', 'slim'))
        lines.append(f'| {size} px | {r:.4f} | {e:.4f} | {s:.4f} | {s / r:.3f} | {e / r:.3f} |')
    lines += ['', 'slim / Raw goal <= 1.05', '',
              '## Params and FLOPs (mmengine.analysis.get_model_complexity_info, batch 1, '
              '128 px)', '', '| variant | params | FLOPs (multiply-adds) |', '|---|---|---|']
    for name, (params, fl) in flops.items():
        lines.append(f'| {name} | {params / 1e6:.3f} M | {fl / 1e9:.3f} G |')
    return '\n'.join(lines)


def main():
    args = parse_args()
    register_all_modules(init_default_scope=True)
    MMLogger.get_current_instance().setLevel('WARNING')  # no init_weights report
    device = torch.device(args.device)
    trans, tokens = transformer_timings(args, device)
    models = variants(args.seed, device)
    inf = inference_timings(args, device, models)
    flops = {}
    for name, model in models.items():
        info = model_complexity(model, (128, 128), device)
        flops[name] = (info['params'], info['flops'])
    header = ['# Multi-scale (DINO) student benchmark', '',
              f'- command: `OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "unset")} '
              f'python {shlex.join(sys.argv)}`',
              f'- machine: {machine(device)}',
              f'- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}',
              f'- torch {torch.__version__}, device {device}',
              f'- provenance: {provenance([args.seed], {})}']
    if args.note:
        header.append(f'- note: {args.note}')
    text = '\n'.join(header) + '\n\n' + report(args, trans, tokens, inf, flops) + '\n'
    print(text)
    with open(args.out, 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
