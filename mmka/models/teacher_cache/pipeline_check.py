"""Which training pipelines a teacher output cache can serve without going stale."""
from typing import Iterable, List

#: Cache modes. ``'deterministic'``: every image reaches the teachers the same way every
#: epoch; any random transform is refused. ``'per_outcome'``: random flips and resizes are
#: allowed, because their outcome is in the metainfo the entries are keyed by (``flip``,
#: ``flip_direction``, ``img_shape``, ``scale_factor``): each outcome is cached separately
#: (a cache about as large as the number of outcomes, filled over many epochs).
MODES = ('deterministic', 'per_outcome')

#: Random transforms whose whole outcome is in the cache key.
KEYED_RANDOM = frozenset({'RandomFlip', 'RandomResize', 'RandomChoiceResize'})
#: Random transforms that do not say "Random" in their name (mmdet / mmcv / mmpretrain).
OTHER_RANDOM = frozenset({
    'PhotoMetricDistortion', 'Expand', 'MinIoURandomCrop', 'Mosaic', 'MixUp', 'CachedMosaic',
    'CachedMixUp', 'CopyPaste', 'CutOut', 'Albu', 'AutoAugment', 'RandAugment',
    'YOLOXHSVRandomAug', 'GeomTransform', 'ColorTransform', 'Rotate', 'ShearX', 'ShearY',
    'TranslateX', 'TranslateY', 'Brightness', 'Contrast', 'Color', 'Sharpness', 'Equalize',
    'AutoContrast', 'Posterize', 'Solarize', 'SolarizeAdd', 'Invert'})


def transform_names(transforms: Iterable) -> List[str]:
    """The type names of a pipeline's transforms, nested ones (RandomChoice, ...) included.

    Accepts built transforms (mmengine ``Compose.transforms``) or their config dicts.
    """
    names = []
    for transform in transforms:
        if isinstance(transform, dict):
            kind = transform.get('type')
            name = kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))
            if _is_idle_flip(name, transform.get('prob')):
                continue
            names.append(name)
            nested = transform.get('transforms') or []
        else:
            name = type(transform).__name__
            if _is_idle_flip(name, getattr(transform, 'prob', None)):
                continue
            names.append(name)
            nested = getattr(transform, 'transforms', None) or []
        for item in nested:  # RandomChoice holds lists of transforms, Compose a list
            names += transform_names(item if isinstance(item, (list, tuple)) else [item])
    return names


def _is_idle_flip(name: str, prob) -> bool:
    """A RandomFlip that never flips (prob 0 or None) is deterministic."""
    return name == 'RandomFlip' and (prob is None or prob == 0 or (
        isinstance(prob, (list, tuple)) and not any(prob)))


def random_transforms(transforms: Iterable, mode: str = 'deterministic') -> List[str]:
    """The names of the transforms in ``transforms`` that ``mode`` cannot cache."""
    if mode not in MODES:
        raise ValueError(f'Unknown teacher cache mode {mode!r}; use one of {MODES}.')
    found = []
    for name in transform_names(transforms):
        random = 'Random' in name or name in OTHER_RANDOM
        if random and not (mode == 'per_outcome' and name in KEYED_RANDOM):
            found.append(name)
    return found


def check_cacheable_pipeline(transforms: Iterable, mode: str = 'deterministic') -> None:
    """Raise a ValueError naming the transforms whose outcome the cache cannot key."""
    bad = random_transforms(transforms, mode)
    if not bad:
        return
    hint = ("mode='per_outcome' caches random flips and resizes per outcome; "
            if mode == 'deterministic' and set(bad) <= KEYED_RANDOM else '')
    raise ValueError(
        f'The teacher output cache (mode={mode!r}) cannot serve this training pipeline: '
        f'{sorted(set(bad))} change what the teachers see from epoch to epoch, so cached '
        f'outputs would be stale. {hint}Remove teacher_cache from the model to run the '
        'teachers every step.')
