"""Extract a standalone student from an amalgamation (or distillation) checkpoint.

    python tools/model_converters/extract_student.py CONFIG CHECKPOINT OUT_DIR

Writes OUT_DIR/student.pth (the student's weights and the dataset meta) and
OUT_DIR/student_config.py (the same config with the student as the model), which plain
mmdet-style tools evaluate:

    python tools/test.py OUT_DIR/student_config.py OUT_DIR/student.pth
"""
import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict

import torch
from mmengine.config import Config

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import mmka  # noqa: E402,F401  (allow-lists mmengine checkpoint classes for torch.load)

PREFIX = 'student.'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='the amalgamation config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='amalgamation checkpoint (e.g. epoch_30.pth)')
    parser.add_argument('out_dir', help='where student.pth and student_config.py go')
    return parser.parse_args(argv)


def extract(config: str, checkpoint: str, out_dir: str):
    """Returns the paths of the written checkpoint and config."""
    for path, what in ((config, 'Config'), (checkpoint, 'Checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file {path!r} does not exist.')
    cfg = Config.fromfile(config)
    if 'student' not in cfg.model:
        raise ValueError(f'{config!r} has no model.student: it is not an amalgamation or '
                         'distillation config.')
    ckpt = torch.load(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    student_state = OrderedDict((k[len(PREFIX):], v) for k, v in state.items()
                                if k.startswith(PREFIX))
    if not student_state:
        raise ValueError(f'{checkpoint!r} holds no "{PREFIX}*" weights; was it saved by an '
                         'amalgamator?')
    os.makedirs(out_dir, exist_ok=True)
    meta = dict(dataset_meta=ckpt.get('meta', {}).get('dataset_meta'), source=checkpoint)
    ckpt_out = osp.join(out_dir, 'student.pth')
    torch.save(dict(state_dict=student_state, meta=meta), ckpt_out)
    cfg.model = cfg.model.student
    cfg.load_from = None
    cfg_out = osp.join(out_dir, 'student_config.py')
    cfg.dump(cfg_out)
    return ckpt_out, cfg_out


def main(argv=None):
    args = parse_args(argv)
    ckpt_out, cfg_out = extract(args.config, args.checkpoint, args.out_dir)
    print(f'student weights: {ckpt_out}\nstudent config:  {cfg_out}\n'
          f'evaluate with:   python tools/test.py {cfg_out} {ckpt_out}')


if __name__ == '__main__':
    main()
