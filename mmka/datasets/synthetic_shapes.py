"""Deterministic, embedded COCO-format detection benchmark of 20 coloured shapes ("shapes").

Each image has a smooth random background with pixel noise and a few distractor strokes
(lines, dots, short arcs -- none of them a class), then ``min_objects``-``max_objects``
(default 2-6) filled or hollow silhouettes in random colours. Colour is at most a weak
hint: each class has a home hue and an object's hue is drawn within ``hue_jitter`` degrees
of it (default 30), so three to four classes share any hue and only the silhouette decides
(``hue_jitter=180`` makes colour independent of the class). Home hues interleave the
teacher partitions, so colour does not tell one teacher's classes from another's. Boxes are the tight, amodal extent of each drawn shape
(computed from its own pixel mask before later objects are painted over it).

Layout written by :func:`generate_shapes_dataset`::

    out_dir/train/000000.png ...              RGB PNGs, image_size x image_size
    out_dir/val/000000.png ...
    out_dir/annotations/instances_train.json  COCO format, category ids 1..20
    out_dir/annotations/instances_val.json
    out_dir/generation.json                   parameters + version; written last

Every image is drawn from its own random stream, ``SeedSequence(seed, spawn_key=(split,
index))``, so the splits are independent, a smaller dataset is a prefix of a larger one and
the same arguments always give the same pixels and byte-identical JSON.
"""
import colorsys
import inspect
import json
import math
import operator
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw

#: Bump whenever the drawing changes, so ensure_shapes_dataset() regenerates old copies.
GENERATOR_VERSION = 2

#: The 20 classes, in label order (COCO category id = index + 1). Consecutive groups of 5
#: (the 4-teacher partition) and halves (the 2-teacher partition) each mix round shapes,
#: box-like shapes, bar shapes and one distinctive shape, so teachers are similarly hard.
SHAPE_CLASSES = (
    'circle', 'square', 'triangle', 'cross', 'crescent',
    'ring', 'diamond', 'star', 'l_shape', 'hexagon',
    'ellipse', 'hollow_square', 'heart', 't_shape', 'semicircle',
    'pentagon', 'trapezoid', 'arrow', 'x_shape', 'hourglass',
)

SPLITS = ('train', 'val')

# Appearance. Lengths are pixels of a 128 px image and scale with image_size.
_LONG_SIDE_RANGE = (14.0, 56.0)
_MIN_LONG_SIDE = 10.0          # floor for small images, keeps the short side >= 4 px
_ASPECT_JITTER = 1.15          # width/height multiplied by a factor in [1/1.15, 1.15]
_MAX_ROTATION_DEG = 10.0       # small enough that square stays square, cross stays cross
_MAX_OCCLUDED_FRACTION = 0.4   # of an earlier object's box and of its pixels
_MIN_COLOUR_DISTANCE = 100.0   # RGB distance from every region the object is painted on
_PIXEL_NOISE_STD = 6.0
_PLACEMENT_TRIES = 30
_COLOUR_TRIES = 30
_MIN_BOX_SIDE = 4
_NUM_DISTRACTORS = (3, 9)      # [low, high) distractor strokes per image
_HUE_STRIDE = 3                # home hue slot of class k: 3k mod 20 (interleaves groups)

Layer = Tuple[np.ndarray, bool]   # polygon (N x 2, x right / y down) and filled-or-hole


# --------------------------------------------------------------------------- geometry
def _arc(cx: float, cy: float, r: float, start: float, stop: float, n: int = 40) -> np.ndarray:
    """Points on a circle from angle ``start`` to ``stop`` (radians)."""
    t = np.linspace(start, stop, n)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _disc(r: float = 0.5) -> np.ndarray:
    """A circle as a 48-gon (fine enough for 60 px)."""
    return _arc(0.0, 0.0, r, 0.0, 2 * math.pi, 48)[:-1]


def _regular(k: int, start_deg: float, r: float = 1.0) -> np.ndarray:
    """Regular k-gon with its first vertex at ``start_deg`` (0 = right, -90 = up)."""
    t = np.deg2rad(start_deg + 360.0 * np.arange(k) / k)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _star() -> np.ndarray:
    """Five-pointed star, tip up; an inner radius of 0.45 keeps the arms thick."""
    outer = _regular(5, -90.0)
    inner = _regular(5, -54.0, 0.45)
    return np.stack([outer, inner], axis=1).reshape(-1, 2)


def _crescent(cut_x: float = 0.25, cut_r: float = 0.45) -> np.ndarray:
    """Disc of radius 0.5 minus a disc of radius ``cut_r`` shifted right by ``cut_x``."""
    # The horns are where the circles intersect: x^2 - (x - c)^2 = R^2 - r^2.
    horn_x = (0.25 - cut_r ** 2 + cut_x ** 2) / (2 * cut_x)
    horn_y = math.sqrt(0.25 - horn_x ** 2)
    outer = math.atan2(horn_y, horn_x)
    inner = math.atan2(horn_y, horn_x - cut_x)
    return np.concatenate([_arc(0.0, 0.0, 0.5, outer, 2 * math.pi - outer),
                           _arc(cut_x, 0.0, cut_r, 2 * math.pi - inner, inner)])


def _heart() -> np.ndarray:
    """The classic parametric heart curve (y flipped to point down)."""
    t = np.linspace(0.0, 2 * math.pi, 60, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x, -y], axis=1)


def _rect(w: float, h: float) -> np.ndarray:
    """Axis-aligned rectangle centred at the origin."""
    return np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])


def _poly(*xy: float) -> np.ndarray:
    """Polygon from a flat list of coordinates."""
    return np.array(xy, dtype=float).reshape(-1, 2)


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate points about the origin."""
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return points @ rot.T


def _raw_layers(name: str) -> List[Layer]:
    """Outline of one class in its natural proportions: outer polygon first, holes after.

    Hollow variants (ring, hollow_square) keep borders >= 20% of the size so they stay
    visibly hollow at 14 px.
    """
    plus = _poly(-1, -3, 1, -3, 1, -1, 3, -1, 3, 1, 1, 1, 1, 3, -1, 3, -1, 1, -3, 1, -3, -1,
                 -1, -1)
    shapes = {
        'circle': [(_disc(), True)],
        'square': [(_rect(1, 1), True)],
        'triangle': [(_poly(0, -0.5, 0.5, 0.5, -0.5, 0.5), True)],
        'cross': [(plus, True)],
        'crescent': [(_crescent(), True)],
        'ring': [(_disc(), True), (_disc(0.28), False)],
        'diamond': [(_poly(0, -0.5, 0.5, 0, 0, 0.5, -0.5, 0), True)],
        'star': [(_star(), True)],
        'l_shape': [(_poly(-1, -1, -0.3, -1, -0.3, 0.3, 1, 0.3, 1, 1, -1, 1), True)],
        'hexagon': [(_regular(6, 0.0), True)],
        'ellipse': [(_disc() * [2.0, 1.0], True)],
        'hollow_square': [(_rect(1, 1), True), (_rect(0.56, 0.56), False)],
        'heart': [(_heart(), True)],
        't_shape': [(_poly(-1, -1, 1, -1, 1, -0.35, 0.33, -0.35, 0.33, 1, -0.33, 1,
                           -0.33, -0.35, -1, -0.35), True)],
        'semicircle': [(_arc(0.0, 0.0, 0.5, math.pi, 2 * math.pi), True)],
        'pentagon': [(_regular(5, -90.0), True)],
        'trapezoid': [(_poly(-0.4, -0.5, 0.4, -0.5, 0.8, 0.5, -0.8, 0.5), True)],
        'arrow': [(_poly(-0.65, -0.15, 0.1, -0.15, 0.1, -0.5, 0.65, 0, 0.1, 0.5, 0.1, 0.15,
                         -0.65, 0.15), True)],
        'x_shape': [(_rotate(plus, 45.0), True)],
        'hourglass': [(_poly(-0.4, -0.5, 0.4, -0.5, 0.08, 0, 0.4, 0.5, -0.4, 0.5, -0.08, 0),
                       True)],
    }
    return shapes[name]


def _unit_shape(name: str) -> Tuple[float, List[Layer]]:
    """Natural aspect (width / height) and layers rescaled so the outer polygon spans
    exactly [-0.5, 0.5] on both axes; drawing then only multiplies by (width, height)."""
    layers = _raw_layers(name)
    outer = layers[0][0]
    lo, hi = outer.min(axis=0), outer.max(axis=0)
    extent = hi - lo
    centre = (lo + hi) / 2
    return float(extent[0] / extent[1]), [((p - centre) / extent, fill) for p, fill in layers]


_SHAPES = {name: _unit_shape(name) for name in SHAPE_CLASSES}


# --------------------------------------------------------------------------- drawing
def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """Smooth colour field: a random 4x4 grid around a random base colour, bicubic-upsampled."""
    base = rng.uniform(40, 215, size=3)
    grid = np.clip(base + rng.normal(0.0, 35.0, size=(4, 4, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(grid).resize((size, size), Image.BICUBIC)


def _draw_distractors(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """Clutter that is no class: thin lines, dots under 6 px and short open arcs."""
    scale = size / 128.0
    for _ in range(rng.integers(*_NUM_DISTRACTORS)):
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        x, y = rng.uniform(0, size, size=2)
        kind = rng.integers(3)
        if kind == 0:
            length, angle = rng.uniform(10, 50) * scale, rng.uniform(0, 2 * math.pi)
            end = (x + length * math.cos(angle), y + length * math.sin(angle))
            draw.line([(x, y), end], fill=colour, width=int(rng.integers(1, 3)))
        elif kind == 1:
            r = rng.uniform(1.0, 2.5)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        else:
            r = rng.uniform(4, 10) * scale
            start = rng.uniform(0, 360)
            draw.arc([x - r, y - r, x + r, y + r], start, start + rng.uniform(60, 200),
                     fill=colour, width=int(rng.integers(1, 3)))


def _sample_outline(rng: np.random.Generator, name: str, size: int) -> List[Layer]:
    """One random instance of class ``name`` (size, aspect jitter, small rotation), placed
    uniformly where it lies fully inside the image with a 1 px margin."""
    aspect, layers = _SHAPES[name]
    scale = size / 128.0
    long_side = rng.uniform(max(_LONG_SIDE_RANGE[0] * scale, _MIN_LONG_SIDE),
                            _LONG_SIDE_RANGE[1] * scale)
    aspect *= math.exp(rng.uniform(-1.0, 1.0) * math.log(_ASPECT_JITTER))
    wh = np.array([long_side, long_side / aspect] if aspect >= 1 else
                  [long_side * aspect, long_side])
    angle = rng.uniform(-_MAX_ROTATION_DEG, _MAX_ROTATION_DEG)
    layers = [(_rotate(p * wh, angle), fill) for p, fill in layers]
    lo, hi = layers[0][0].min(axis=0), layers[0][0].max(axis=0)
    offset = rng.uniform(1.0 - lo, size - 2.0 - hi)
    return [(p + offset, fill) for p, fill in layers]


def _rasterise(layers: Sequence[Layer], size: int) -> np.ndarray:
    """Boolean pixel mask of an outline (holes cleared after the outer polygon)."""
    mask = Image.new('L', (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for points, filled in layers:
        draw.polygon([tuple(p) for p in points], fill=255 if filled else 0)
    return np.asarray(mask) > 0


def _tight_box(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    """(x, y, w, h) of the mask's pixels, or None when it is smaller than 4 px a side."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if len(cols) == 0:
        return None
    x, y = int(cols[0]), int(rows[0])
    w, h = int(cols[-1]) + 1 - x, int(rows[-1]) + 1 - y
    return (x, y, w, h) if min(w, h) >= _MIN_BOX_SIDE else None


def _box_overlap(box: Sequence[int], other: Sequence[int]) -> float:
    """Fraction of ``other``'s box area covered by ``box`` (both x, y, w, h)."""
    w = min(box[0] + box[2], other[0] + other[2]) - max(box[0], other[0])
    h = min(box[1] + box[3], other[1] + other[3]) - max(box[1], other[1])
    return max(w, 0) * max(h, 0) / (other[2] * other[3])


def _occludes_too_much(mask: np.ndarray, box: Sequence[int], labels: np.ndarray,
                       objects: Sequence[Tuple[int, Sequence[int], int]]) -> bool:
    """Would painting the new object hide too much of an earlier one?

    Two rules: its box may cover at most 40% of an earlier object's box, and every earlier
    object keeps >= 60% of its pixels visible, counted cumulatively so that several later
    objects cannot together bury one (the box rule alone is pairwise). ``labels`` holds, per pixel,
    1 + the index of the object visible there (0 = background); ``objects`` holds
    (class, box, pixel count) per earlier object.
    """
    if not objects:
        return False
    if any(_box_overlap(box, other) > _MAX_OCCLUDED_FRACTION for _, other, _ in objects):
        return True
    visible = np.bincount(labels.ravel(), minlength=len(objects) + 1)[1:]
    covered = np.bincount(labels[mask], minlength=len(objects) + 1)[1:]
    areas = np.array([area for _, _, area in objects])
    return bool(np.any(visible - covered < (1 - _MAX_OCCLUDED_FRACTION) * areas))


def _random_colour(rng: np.random.Generator, cls: int, hue_jitter: int) -> np.ndarray:
    """RGB colour with hue within ``hue_jitter`` degrees of class ``cls``'s home hue.

    Home hues are 18 degrees apart and assigned in the order 3k mod 20, so consecutive
    classes (and thus the classes of one teacher) are spread around the colour circle.
    """
    num = len(SHAPE_CLASSES)
    home = (_HUE_STRIDE * cls % num) * 360.0 / num
    hue = (home + rng.uniform(-hue_jitter, hue_jitter)) % 360.0
    rgb = colorsys.hsv_to_rgb(hue / 360.0, rng.uniform(0.5, 1.0), rng.uniform(0.4, 1.0))
    return np.rint(np.array(rgb) * 255).astype(np.int64)


def _contrasting_colour(rng: np.random.Generator, canvas: np.ndarray, labels: np.ndarray,
                        mask: np.ndarray, cls: int, hue_jitter: int) -> Tuple[int, int, int]:
    """Random RGB colour far from the mean colour of every region (background or earlier
    object) the new object will cover, so no part of its silhouette blends in. Falls back
    to the most distant of the tries."""
    under, pixels = labels[mask], canvas[mask]
    means = np.stack([pixels[under == k].mean(axis=0) for k in np.unique(under)])
    best, best_dist = None, -1.0
    for _ in range(_COLOUR_TRIES):
        colour = _random_colour(rng, cls, hue_jitter)
        dist = float(np.min(np.linalg.norm(means - colour, axis=1)))
        if dist > best_dist:
            best, best_dist = colour, dist
        if dist > _MIN_COLOUR_DISTANCE:
            break
    return tuple(int(c) for c in best)


def _render_image(rng: np.random.Generator, size: int, first_class: int, min_objects: int,
                  max_objects: int,
                  hue_jitter: int) -> Tuple[Image.Image, List[Tuple[int, Tuple[int, ...]]]]:
    """Draw one image; returns it and its objects as (class index, (x, y, w, h)).

    The first object has class ``first_class`` and is placed on an empty canvas, so it can
    never be rejected: that is what guarantees every class in every split. Later objects
    whose placements all violate the occlusion rule are dropped (rare at 128 px).
    """
    canvas = _background(rng, size)
    _draw_distractors(ImageDraw.Draw(canvas), rng, size)
    num = int(rng.integers(min_objects, max_objects + 1))
    classes = [first_class] + [int(c) for c in rng.integers(0, len(SHAPE_CLASSES), num - 1)]
    labels = np.zeros((size, size), dtype=np.int32)
    objects: List[Tuple[int, Tuple[int, ...], int]] = []   # (class, box, pixel count)
    for cls in classes:
        for _ in range(_PLACEMENT_TRIES):
            mask = _rasterise(_sample_outline(rng, SHAPE_CLASSES[cls], size), size)
            box = _tight_box(mask)
            if box is not None and not _occludes_too_much(mask, box, labels, objects):
                break
        else:
            continue
        colour = _contrasting_colour(rng, np.asarray(canvas), labels, mask, cls, hue_jitter)
        canvas.paste(colour, mask=Image.fromarray(mask.astype(np.uint8) * 255))
        objects.append((cls, box, int(mask.sum())))
        labels[mask] = len(objects)
    pixels = np.asarray(canvas, dtype=np.float32)
    pixels = pixels + rng.normal(0.0, _PIXEL_NOISE_STD, size=pixels.shape)
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    return image, [(cls, box) for cls, box, _ in objects]


# --------------------------------------------------------------------------- dataset files
def _coco(records: Sequence[Tuple[str, list]], size: int) -> dict:
    """COCO instances dict; image and annotation ids start at 1 (pycocotools' COCOeval
    treats id 0 as 'unmatched')."""
    images, annotations = [], []
    for image_id, (file_name, objects) in enumerate(records, start=1):
        images.append(dict(id=image_id, file_name=file_name, width=size, height=size))
        for cls, (x, y, w, h) in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=cls + 1,
                                    bbox=[float(x), float(y), float(w), float(h)],
                                    area=float(w * h), iscrowd=0))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(SHAPE_CLASSES)]
    return dict(info=dict(description='mmka synthetic shapes', version=GENERATOR_VERSION),
                licenses=[], images=images, annotations=annotations, categories=categories)


def _write_split(root: Path, split_index: int, num_images: int, params: dict) -> dict:
    """Render one split into ``root/<split>/`` and its COCO json; returns the COCO dict."""
    split = SPLITS[split_index]
    (root / split).mkdir(parents=True)
    records = []
    for k in range(num_images):
        seq = np.random.SeedSequence(params['seed'], spawn_key=(split_index, k))
        image, objects = _render_image(np.random.default_rng(seq), params['image_size'],
                                       k % len(SHAPE_CLASSES), params['min_objects'],
                                       params['max_objects'], params['hue_jitter'])
        file_name = f'{k:06d}.png'
        # Level 1: pixel noise hardly compresses, so level 6 saves only ~8% and is slower.
        image.save(root / split / file_name, format='PNG', compress_level=1)
        records.append((file_name, objects))
    coco = _coco(records, params['image_size'])
    _write_json(root / 'annotations' / f'instances_{split}.json', coco, indent=None)
    return coco


def _write_json(path: Path, obj: dict, indent: Optional[int]) -> None:
    """Deterministic JSON (fixed key order, ASCII) so equal data gives equal bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=indent) + '\n', encoding='ascii')


def _write_dataset(root: Path, params: dict) -> None:
    """Write both splits, then generation.json last (its presence marks completion)."""
    counts = {}
    for split_index, split in enumerate(SPLITS):
        coco = _write_split(root, split_index, params[f'num_{split}'], params)
        counts[split] = dict(images=len(coco['images']), objects=len(coco['annotations']))
    _write_json(root / 'generation.json',
                dict(version=GENERATOR_VERSION, params=params, classes=list(SHAPE_CLASSES),
                     counts=counts), indent=2)


def _check_params(num_train, num_val, image_size, seed, min_objects, max_objects,
                  hue_jitter) -> dict:
    """Validate the generation parameters; returns them as a dict of plain ints."""
    params = dict(num_train=num_train, num_val=num_val, image_size=image_size, seed=seed,
                  min_objects=min_objects, max_objects=max_objects, hue_jitter=hue_jitter)
    for key, value in params.items():
        try:
            params[key] = operator.index(value)
        except TypeError:
            raise ValueError(f'{key} must be an integer, got {value!r}') from None
    minimum = dict(num_train=1, num_val=1, image_size=32, seed=0, min_objects=1,
                   max_objects=1, hue_jitter=0)
    for key, low in minimum.items():
        if params[key] < low:
            raise ValueError(f'{key} must be >= {low}, got {params[key]}')
    if params['hue_jitter'] > 180:
        raise ValueError(f"hue_jitter must be <= 180 (180: colour independent of the class), "
                         f"got {params['hue_jitter']}")
    if params['min_objects'] > params['max_objects']:
        raise ValueError(f"min_objects ({params['min_objects']}) must be <= max_objects "
                         f"({params['max_objects']})")
    return params


def _stored_params(out_dir: Path) -> Optional[dict]:
    """Parameters of a complete dataset of the current version in ``out_dir``, else None."""
    try:
        meta = json.loads((out_dir / 'generation.json').read_text())
    except (OSError, ValueError):
        return None
    return meta.get('params') if meta.get('version') == GENERATOR_VERSION else None


def _publish(tmp: Path, out_dir: Path, params: dict) -> None:
    """Move the finished ``tmp`` dataset to ``out_dir``, replacing what is there.

    The old directory is first renamed aside, so ``out_dir`` is never half written. If
    another process publishes the same parameters between our two renames, its (identical,
    because generation is deterministic) copy is kept.
    """
    if out_dir.exists():
        old = out_dir.with_name(f'.{out_dir.name}.old-{uuid.uuid4().hex[:8]}')
        try:
            os.rename(out_dir, old)
        except FileNotFoundError:   # another process moved it aside first
            old = None
    else:
        old = None
    try:
        os.rename(tmp, out_dir)
    except OSError:
        if _stored_params(out_dir) != params:
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def generate_shapes_dataset(out_dir: Union[str, Path], num_train: int = 2000,
                            num_val: int = 500, image_size: int = 128, seed: int = 0,
                            min_objects: int = 2, max_objects: int = 6,
                            hue_jitter: int = 30) -> Path:
    """(Re)generate the shapes dataset in ``out_dir`` unconditionally; returns ``out_dir``.

    Each image gets ``min_objects``-``max_objects`` objects; the first one of image ``k``
    has class ``k % 20`` (so every class is in both splits once they have >= 20 images).
    An object that cannot be placed without hiding more than 40% of an earlier one within
    30 tries is dropped, which only happens with crowded settings (many objects on small
    images); it never happened at the default settings. ``hue_jitter`` (degrees, 0-180)
    bounds how far an object's hue strays from its class's home hue (180: no colour hint).

    The data is written to a temporary sibling directory and renamed into place at the
    end, so an interrupted run leaves any previous copy untouched.

    Raises:
        ValueError: a parameter is not an integer or out of range (the message names it).
    """
    params = _check_params(num_train, num_val, image_size, seed, min_objects, max_objects,
                           hue_jitter)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.tmp-', dir=out_dir.parent))
    try:
        _write_dataset(tmp, params)
        _publish(tmp, out_dir, params)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def ensure_shapes_dataset(out_dir: Union[str, Path], **params) -> Path:
    """Return ``out_dir``, generating it first unless it already holds a complete dataset
    of the current generator version made with the same parameters.

    ``params`` are those of :func:`generate_shapes_dataset` (its defaults apply).
    """
    # Fill in generate_shapes_dataset's defaults so that the comparison with the stored
    # parameters is over the full set (a TypeError names any unknown keyword).
    bound = inspect.signature(generate_shapes_dataset).bind(out_dir, **params)
    bound.apply_defaults()
    requested = _check_params(**{k: v for k, v in bound.arguments.items() if k != 'out_dir'})
    out_dir = Path(out_dir)
    if _stored_params(out_dir) == requested:
        return out_dir
    return generate_shapes_dataset(out_dir, **requested)


def load_generation_info(out_dir: Union[str, Path]) -> Dict:
    """Contents of ``out_dir/generation.json`` (parameters, version, image/object counts)."""
    return json.loads((Path(out_dir) / 'generation.json').read_text())
