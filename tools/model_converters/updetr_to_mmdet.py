"""Convert an UP-DETR / facebookresearch DETR (``--pre_norm``) checkpoint to PreNormDETR keys.

    python tools/model_converters/updetr_to_mmdet.py SRC DST [--skip-head] [--coco-80]
        [--config configs/_base_/models/detr-prenorm_r50.py]

SRC is what DETR and UP-DETR save (``dict(model=state_dict, ...)``); DST is an mmengine
checkpoint ``dict(state_dict=..., meta=...)`` for :class:`PreNormDETR`, e.g. to train from:

    --cfg-options load_from=DST

Prints, and :func:`convert` returns, the source keys without a counterpart (UP-DETR's
pre-training ``patch2query`` / ``feature_align``, a learned positional encoding) and the
keys of the ``--config`` model that the checkpoint does not fill. A post-norm DETR checkpoint
(no ``transformer.encoder.norm``; ``encoder.post_norm`` is then reported missing) has the same
keys as mmdet's post-norm ``DETR``: convert it with ``--config configs/_base_/models/detr_r50.py``.
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, Iterable, List, NamedTuple, Optional

import torch
from torch import Tensor

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)
import mmka  # noqa: E402,F401  (registers PreNormDETR)

DEFAULT_CONFIG = osp.join(REPO, 'configs/_base_/models/detr-prenorm_r50.py')
_LAYER = r'transformer\.(encoder|decoder)\.layers\.(\d+)\.'
# (source pattern, mmdet key template); mmdet's MultiheadAttention wraps the same
# nn.MultiheadAttention as `.attn` (in_proj_weight (3C, C) stacks q, k, v in both), its FFN
# is Sequential(Sequential(linear1, act, drop), linear2, drop), its layer norms a list.
RULES = (
    (r'backbone\.0\.body\.(.+)', r'backbone.\1'),  # torchvision and mmdet ResNet names agree
    (r'input_proj\.(weight|bias)', r'neck.convs.0.conv.\1'),
    (r'transformer\.(encoder|decoder)\.norm\.(weight|bias)', r'\1.post_norm.\2'),
    (_LAYER + r'self_attn\.(.+)', r'\1.layers.\2.self_attn.attn.\3'),
    (_LAYER + r'multihead_attn\.(.+)', r'\1.layers.\2.cross_attn.attn.\3'),
    (_LAYER + r'linear1\.(weight|bias)', r'\1.layers.\2.ffn.layers.0.0.\3'),
    (_LAYER + r'linear2\.(weight|bias)', r'\1.layers.\2.ffn.layers.1.\3'),
    *((_LAYER + rf'norm{i + 1}\.(weight|bias)', rf'\1.layers.\2.norms.{i}.\3')
      for i in range(3)),
)
# The task head and the object queries: UP-DETR pre-trains them for patch localisation.
HEAD_RULES = (
    (r'query_embed\.weight', 'query_embedding.weight'),
    (r'class_embed\.(weight|bias)', r'bbox_head.fc_cls.\1'),
    # DETR's box MLP is relu(L0) -> relu(L1) -> L2; mmdet's: reg_ffn (L0, relu, L1), relu, fc_reg
    (r'bbox_embed\.layers\.0\.(weight|bias)', r'bbox_head.reg_ffn.layers.0.0.\1'),
    (r'bbox_embed\.layers\.1\.(weight|bias)', r'bbox_head.reg_ffn.layers.1.\1'),
    (r'bbox_embed\.layers\.2\.(weight|bias)', r'bbox_head.fc_reg.\1'),
)
# DETR's COCO head has 92 rows: category ids 0-90 and no-object last; mmdet's has the 80 used
# ids in id order (CocoDataset's label order) and then the background.
COCO_IDS = (*range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70,
            *range(72, 83), *range(84, 91))


class Conversion(NamedTuple):
    state_dict: Dict[str, Tensor]  # mmdet keys, in source order
    unmapped: List[str]  # source keys without a counterpart (or dropped by skip_head)
    missing: List[str]  # target keys left unfilled (empty without target_keys)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='UP-DETR / DETR checkpoint (a dict with key "model")')
    parser.add_argument('dst', help='output mmengine checkpoint')
    parser.add_argument('--skip-head', action='store_true',
                        help='drop the class / box head and the query embeddings (UP-DETR '
                        'pre-training checkpoints: their head solves another task)')
    parser.add_argument('--coco-80', action='store_true',
                        help="reorder DETR's 91-id COCO classifier into mmdet's 80 classes")
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='config of the target model, to list the keys left unfilled')
    return parser.parse_args(argv)


def convert(src: Dict[str, Tensor], skip_head: bool = False, coco_80: bool = False,
            target_keys: Optional[Iterable[str]] = None) -> Conversion:
    """Rename a DETR state dict to :class:`PreNormDETR` keys.

    Args:
        src (dict): the DETR / UP-DETR model state dict (``checkpoint['model']``).
        skip_head (bool): leave out ``query_embed``, ``class_embed`` and ``bbox_embed``.
        coco_80 (bool): keep the 80 COCO category rows (and no-object) of ``class_embed``.
        target_keys (iterable of str, optional): the target model's state-dict keys; those
            the result does not hold are returned as ``missing``.
    """
    rules = RULES if skip_head else RULES + HEAD_RULES
    dst, unmapped = OrderedDict(), []
    for key, value in src.items():
        new_key = _rename(key, rules)
        if new_key is None:
            unmapped.append(key)
            continue
        if coco_80 and new_key.startswith('bbox_head.fc_cls.'):
            value = _coco_80_rows(value)
        dst[new_key] = value
        if new_key.startswith('backbone.') and new_key.endswith('.running_var'):
            # FrozenBatchNorm2d keeps no step counter; mmdet's BN does (it matters only
            # with momentum=None): start it at 0 so the checkpoint loads strictly.
            counter = new_key[:-len('running_var')] + 'num_batches_tracked'
            dst.setdefault(counter, torch.tensor(0, dtype=torch.long))
    missing = [] if target_keys is None else sorted(set(target_keys) - set(dst))
    return Conversion(dst, unmapped, missing)


def _rename(key: str, rules) -> Optional[str]:
    for pattern, template in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return match.expand(template)
    return None


def _coco_80_rows(value: Tensor) -> Tensor:
    if value.size(0) != 92:
        raise ValueError(f'--coco-80 expects DETR\'s COCO classifier with 92 rows (91 ids and '
                         f'no-object), got {value.size(0)}; drop --coco-80 for other heads.')
    return value[list(COCO_IDS) + [91]]


def target_keys_of(config: str) -> List[str]:
    """State-dict keys of ``config``'s model (built without loading any weights)."""
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return list(MODELS.build(Config.fromfile(config).model).state_dict())


def main(argv=None) -> Conversion:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        raise FileNotFoundError(f'Checkpoint {args.src!r} does not exist.')
    if hasattr(torch.serialization, 'add_safe_globals'):  # torch >= 2.4
        # DETR saves its argparse.Namespace next to the weights; torch >= 2.6 loads
        # weights-only by default: allow exactly that class.
        torch.serialization.add_safe_globals([argparse.Namespace])
    ckpt = torch.load(args.src, map_location='cpu')
    if not isinstance(ckpt, dict) or 'model' not in ckpt:
        raise ValueError(f'{args.src!r} is not a DETR / UP-DETR checkpoint: expected a dict '
                         'with key "model" (the state dict), as their main.py saves.')
    result = convert(ckpt['model'], args.skip_head, args.coco_80, target_keys_of(args.config))
    meta = dict(source=args.src, skip_head=args.skip_head, coco_80=args.coco_80)
    torch.save(dict(state_dict=result.state_dict, meta=meta), args.dst)
    print(f'{len(result.state_dict)} tensors written to {args.dst}')
    for what, keys in (('source keys without a counterpart', result.unmapped),
                       (f'keys of {args.config} left unfilled', result.missing)):
        print(f'{len(keys)} {what}' + ''.join(f'\n  {k}' for k in keys))
    return result


if __name__ == '__main__':
    main()
