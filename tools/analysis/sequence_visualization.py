"""Intermediate sequences of the student, segment by segment, beside the teachers' (Fig. 7).

    python tools/analysis/sequence_visualization.py CONFIG CHECKPOINT [--out sequences.png]
        [--data-root data/shapes] [--num-images 1] [--start 0] [--layers last]
        [--reduce norm|pca] [--level 0] [--no-teachers] [--device cpu]

CONFIG is an amalgamation config (teachers are shown too) or a KA student config (student
only); CHECKPOINT the amalgamation or student checkpoint. For each image and each of
``--layers`` (``proj``: the input projections; ``last`` or an index: that encoder layer's
output, paper Fig. 7 shows the last) there is one row of teachers X_t^1..X_t^N and one row
of student segments X_s^1..X_s^N. Each token sequence is normalised per channel (over the
image's valid tokens of one model, as the SA loss does) and reduced to one value per token,
``norm`` (its L2 norm) or ``pca`` (its first principal component, fitted per model), then
reshaped to the feature map h x w. A compressing student's encoder has one sequence of n
tokens: its row shows that and which segment each position kept. Multi-scale models
(``KADINOStudent`` / ``KADeformableDETRStudent`` and their DINO / Deformable DETR teachers)
show one feature level, ``--level`` (0: the finest the transformer reads): the level's
tokens of each sequence, on that level's map.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use('Agg')  # files only: no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import mmka  # noqa: E402,F401  (registers mmka modules)
from mmka.models.amalgamation_hooks.recorder import OutputRecorder  # noqa: E402
from mmka.models.amalgamation_hooks.sequence_utils import (  # noqa: E402
    channel_normalize, feature_levels, map_to_tokens, neck_shapes, valid_token_mask)
from mmka.utils.analysis import (build_ka_student, build_teachers,  # noqa: E402
                                 image_rgb, is_distiller_cfg, load_config, load_items,
                                 preprocess)

REDUCTIONS = ('norm', 'pca')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='amalgamation or KA student config')
    parser.add_argument('checkpoint', help='amalgamation or student checkpoint')
    parser.add_argument('--out', default='sequences.png', help='output PNG')
    parser.add_argument('--data-root', help='override the config\'s data root')
    parser.add_argument('--num-images', type=int, default=1, help='images (from --start)')
    parser.add_argument('--start', type=int, default=0, help='first test image index')
    parser.add_argument('--layers', nargs='+', default=['last'],
                        help="'proj' (input projection), 'last' or encoder layer indices")
    parser.add_argument('--reduce', choices=REDUCTIONS, default='norm',
                        help='one value per token: channel L2 norm or first PCA component')
    parser.add_argument('--level', type=int, default=0,
                        help='feature level of multi-scale models (0: the finest)')
    parser.add_argument('--no-teachers', action='store_true',
                        help='student rows only (no teacher checkpoints needed)')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {args.num_images}')
    if args.level < 0:
        parser.error(f'--level must be >= 0, got {args.level}')
    return args


def level_layout(model, neck_output, level: int) -> Tuple[Tuple[int, int], slice, int]:
    """(h, w) of ``level``, its tokens' slice in a sequence of all levels the model's
    transformer reads (the last L maps of its neck; L = 1 for a single-scale DETR), and the
    length of that sequence."""
    levels = feature_levels(model)
    if not 0 <= level < levels:
        raise ValueError(f'--level {level}: {type(model).__name__} reads {levels} feature '
                         f'level(s) (0..{levels - 1}).')
    shapes = neck_shapes(neck_output, levels)
    start = sum(h * w for h, w in shapes[:level])
    h, w = shapes[level]
    return (h, w), slice(start, start + h * w), sum(h * w for h, w in shapes)


def layer_name(spec: str, model) -> str:
    """``'neck'`` for ``proj``, else ``encoder.layers.{l}`` of ``model`` (``last``, int)."""
    if spec == 'proj':
        return 'neck'
    num = len(model.encoder.layers)
    if spec == 'last':
        return f'encoder.layers.{num - 1}'
    try:
        index = int(spec)
    except ValueError:
        raise ValueError(f"--layers entry {spec!r} is not 'proj', 'last' or an encoder "
                         'layer index.') from None
    if not -num <= index < num:
        raise ValueError(f'--layers {index}: {type(model).__name__} has {num} encoder '
                         f'layers (0..{num - 1}).')
    return f'encoder.layers.{index % num}'


@torch.no_grad()
def run_encoder(model, data: dict, names: List[str]) -> Dict[str, object]:
    """Outputs of submodules ``names`` in one forward up to the encoder (no decoder)."""
    recorder = OutputRecorder(model, names)
    try:
        feats = model.extract_feat(data['inputs'])
        encoder_inputs, _ = model.pre_transformer(feats, data['data_samples'])
        model.forward_encoder(**encoder_inputs)
        return dict(recorder.outputs)
    finally:
        recorder.remove()


def teacher_sequences(teacher, item: dict, specs: List[str], level: int = 0):
    """Per layer spec: [(1, n, C)] of one teacher at ``level``; that level's feature map
    size (h, w); the batch."""
    data = preprocess(teacher, [item])
    names = {spec: layer_name(spec, teacher) for spec in specs}
    out = run_encoder(teacher, data, sorted(set(names.values()) | {'neck'}))
    hw, tokens, _ = level_layout(teacher, out['neck'], level)
    proj = map_to_tokens(out['neck'][-feature_levels(teacher):][level])
    seqs = [[proj] if names[s] == 'neck' else [out[names[s]][:, tokens]] for s in specs]
    return seqs, hw, data


def student_sequences(student, item: dict, specs: List[str], level: int = 0):
    """Per layer spec: N segments [(1, n, C)], or one compressed (1, n, C), at ``level``;
    plus that level's (h, w), the preprocessed batch and which segment each of its positions
    kept (a (1, n) tensor of 0..N-1; None without compression)."""
    data = preprocess(student, [item])
    num = student.num_teachers
    necks = [f'neck.{t}' for t in range(num)]
    names = {s: layer_name(s, student) for s in specs}
    out = run_encoder(student, data, sorted({n for n in names.values() if n != 'neck'}) + necks)
    hw, tokens, length = level_layout(student, out['neck.0'], level)
    levels = feature_levels(student)
    seqs = []
    for spec in specs:
        if names[spec] == 'neck':
            seqs.append([map_to_tokens(out[n][-levels:][level]) for n in necks])
        else:
            layer = student.encoder_layer_segments(out[names[spec]])[..., tokens, :]
            seqs.append([layer] if layer.dim() == 3 else list(layer.unbind(1)))
    kept = student.last_kept_indices  # (1, length): t·length + position, all levels
    return seqs, hw, data, None if kept is None else kept[:, tokens] // length


def reduce_maps(seqs: List[torch.Tensor], valid: torch.Tensor, hw: Tuple[int, int],
                method: str) -> List[np.ndarray]:
    """(1, n, C) sequences of one model -> (h, w) maps, NaN at padding.

    Channels are normalised over the valid tokens of all of ``seqs`` together, so one
    model's segments stay comparable (as in the SA loss, paper §IV-A2).
    """
    joint = torch.cat(seqs, dim=1)  # (1, k·n, C)
    mask = valid.repeat(1, len(seqs))
    tokens = channel_normalize(joint, mask)[0]  # (k·n, C)
    if method == 'norm':
        values = tokens.norm(dim=-1) / tokens.size(-1) ** 0.5
    else:
        centred = tokens - tokens[mask[0]].mean(0)
        _, _, v = torch.linalg.svd(centred[mask[0]], full_matrices=False)
        values = centred @ v[0]
        # A principal direction has no sign: make its strongest response positive.
        if values[mask[0]].min().abs() > values[mask[0]].max().abs():
            values = -values
    values = values.masked_fill(~mask[0], float('nan'))
    return [m.reshape(hw).cpu().numpy() for m in values.split(hw[0] * hw[1])]


def show_row(axes, maps: List[np.ndarray], titles: List[str]) -> None:
    """One model's maps on a shared colour scale."""
    finite = np.concatenate([m[np.isfinite(m)] for m in maps])
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0, 1)
    for ax, m, title in zip(axes, maps, titles):
        ax.imshow(m, cmap='viridis', vmin=vmin, vmax=vmax, interpolation='nearest')
        ax.set_title(title, fontsize=8)


def kept_map(kept: torch.Tensor, hw: Tuple[int, int]) -> np.ndarray:
    """(1, h·w) kept segments t (0-based) -> their (h, w) map, 1-based."""
    return (kept[0] + 1).reshape(hw).cpu().numpy()


def build_models(args):
    """(cfg, student, teachers or []) for the arguments."""
    cfg = load_config(args.config, args.data_root)
    student = build_ka_student(cfg, args.checkpoint, args.device, 'sequence_visualization')
    teachers = []
    if is_distiller_cfg(cfg.model) and not args.no_teachers:
        teachers = build_teachers(cfg, args.device)
        if len(teachers) != student.num_teachers:
            raise ValueError(f'{len(teachers)} teachers but the student has '
                             f'num_teachers={student.num_teachers} segments.')
    return cfg, student, teachers


def main(argv=None) -> List[List[np.ndarray]]:
    """Returns the maps drawn, one list per row."""
    args = parse_args(argv)
    cfg, student, teachers = build_models(args)
    for spec in args.layers:  # fail before any forward on a bad layer
        layer_name(spec, student)
        for teacher, _ in teachers:
            layer_name(spec, teacher)
    items = load_items(cfg, args.num_images, args.start)
    num = student.num_teachers
    rows = []  # (image or None, maps, titles, kept-segment map or None)
    for item in items:
        s_seqs, s_hw, s_data, kept = student_sequences(student, item, args.layers, args.level)
        s_valid = valid_token_mask(s_data['data_samples'], [s_hw], s_data['inputs'].device)
        t_maps = []
        for teacher, _ in teachers:
            t_seqs, t_hw, t_data = teacher_sequences(teacher, item, args.layers, args.level)
            t_valid = valid_token_mask(t_data['data_samples'], [t_hw], t_data['inputs'].device)
            t_maps.append([reduce_maps(s, t_valid, t_hw, args.reduce)[0] for s in t_seqs])
        image = image_rgb(item)
        for k, spec in enumerate(args.layers):
            if teachers:
                rows.append((image, [m[k] for m in t_maps],
                             [f'X_t^{t + 1} ({spec})' for t in range(num)], None))
                image = None
            maps = reduce_maps(s_seqs[k], s_valid, s_hw, args.reduce)
            if len(maps) == num:
                rows.append((image, maps, [f'X_s^{t + 1} ({spec})' for t in range(num)], None))
            else:  # a compressed encoder sequence: one map, and which segment each kept
                rows.append((image, maps, [f'X_s slim ({spec})'], kept_map(kept, s_hw)))
            image = None
    figure(rows, num, args, len(items))
    return [maps for _, maps, _, _ in rows]


def figure(rows, num: int, args, num_images: int) -> None:
    """Column 0: the image on each image's first row; then the maps (and kept segments)."""
    fig, axes = plt.subplots(len(rows), num + 1, figsize=(2.3 * (num + 1), 2.3 * len(rows)),
                             squeeze=False, layout='constrained')
    for ax_row, (image, maps, titles, kept) in zip(axes, rows):
        for ax in ax_row:
            ax.set_axis_off()
        if image is not None:
            ax_row[0].imshow(image)
        show_row(ax_row[1:], maps, titles)
        if kept is not None:  # categorical: segment t in colour t
            ax = ax_row[len(maps) + 1]
            ax.imshow(kept, cmap='tab10', vmin=1, vmax=10, interpolation='nearest')
            ax.set_title('kept segment', fontsize=8)
    fig.suptitle(f'{args.reduce} of channel-normalised tokens, {num_images} image(s)',
                 fontsize=9)
    fig.savefig(args.out, dpi=120)
    plt.close(fig)
    print(f'{len(rows)} rows x {num} segments\nsaved {args.out}')


if __name__ == '__main__':
    main()
