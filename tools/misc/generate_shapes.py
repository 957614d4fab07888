"""Generate the embedded synthetic shapes detection dataset (COCO format).

    python tools/misc/generate_shapes.py data/shapes            # skip if up to date
    python tools/misc/generate_shapes.py data/shapes --force    # always regenerate
    python tools/misc/generate_shapes.py data/shapes_pretrain --seed 1 --class-agnostic
        # also annotations/instances_<split>_agnostic.json: every object of class 'shape'
        # (configs/pretrain/dino_r18tiny_1xb16-12e_shapes-agnostic.py)
"""
import argparse
import sys
import time
from pathlib import Path

# Make `import mmka` work from a plain checkout too (before `pip install -e .`).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mmka.datasets.class_agnostic import write_class_agnostic_splits  # noqa: E402
from mmka.datasets.synthetic_shapes import (  # noqa: E402
    ensure_shapes_dataset, generate_shapes_dataset, load_generation_info)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; defaults are the benchmark's standard size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', nargs='?', default='data/shapes',
                        help='output directory (default: data/shapes)')
    parser.add_argument('--num-train', type=int, default=2000)
    parser.add_argument('--num-val', type=int, default=500)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--hue-jitter', type=int, default=30,
                        help='degrees an object hue may stray from its class hue '
                        '(180: colour independent of the class)')
    parser.add_argument('--class-agnostic', action='store_true',
                        help="also write class-agnostic annotations (every object a 'shape') "
                        'as annotations/instances_<split>_agnostic.json, for pre-training')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if a matching dataset already exists')
    return parser


def main(argv=None) -> None:
    """Generate (or verify) the dataset and print where it is and what it holds."""
    parser = build_parser()
    args = parser.parse_args(argv)
    params = dict(num_train=args.num_train, num_val=args.num_val,
                  image_size=args.image_size, seed=args.seed, hue_jitter=args.hue_jitter)
    start = time.perf_counter()
    make = generate_shapes_dataset if args.force else ensure_shapes_dataset
    try:
        out_dir = make(args.out_dir, **params)
    except ValueError as err:   # a bad option value: report it like argparse does
        parser.error(str(err))
    if args.class_agnostic:
        write_class_agnostic_splits(out_dir, name='shape')
    seconds = time.perf_counter() - start
    counts = load_generation_info(out_dir)['counts']
    summary = ', '.join(f"{split}: {c['images']} images / {c['objects']} objects"
                        for split, c in counts.items())
    print(f'shapes dataset in {Path(out_dir).resolve()} ({summary}); {seconds:.1f} s')


if __name__ == '__main__':
    main()
