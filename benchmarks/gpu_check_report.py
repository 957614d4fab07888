"""Python half of benchmarks/gpu_check.sh: the prepared folder's manifest, the device's
environment, the mmcv CUDA op check, the tiny-teacher training run and the results file.

    python benchmarks/gpu_check_report.py manifest DIR [--limit-mib 64] [--tree-bytes N]
                                                       [--commit C]
    python benchmarks/gpu_check_report.py verify DIR
    python benchmarks/gpu_check_report.py env FILE
    python benchmarks/gpu_check_report.py ops [--device cuda]
    python benchmarks/gpu_check_report.py train --data-root DIR --work-dir DIR [--no-amp]
    python benchmarks/gpu_check_report.py report --logs DIR --out FILE [--amalgamation MD]
                                                 [--prepared DIR] [--command TEXT]

Module level imports are the standard library only: `manifest`, `verify` and `report` must
work where torch, mmcv or the carried wheels are missing or broken (a failed install is
what the report has to show).
"""
import argparse
import datetime
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import zipfile
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MANIFEST = 'MANIFEST.txt'
#: What travels with a `run` call in all: the working tree plus carried paths (device README).
CARRY_LIMIT_MIB = 64
#: The device's interpreter, for the markers of the carried wheels' requirements.
DEVICE_MARKERS = dict(python_version='3.12', python_full_version='3.12.3', os_name='posix',
                      sys_platform='linux', platform_system='Linux', platform_machine='x86_64',
                      implementation_name='cpython', platform_python_implementation='CPython',
                      extra='')
TAIL_LINES = 15


class SizeError(ValueError):
    """The prepared folder and the working tree would not fit into one `run` call."""


# ---------------------------------------------------------------- prepare: the manifest
def folder_files(folder: str) -> Dict[str, int]:
    """Sizes in bytes of the files under ``folder`` (paths relative to it), the manifest's
    own file excluded."""
    sizes = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = osp.join(root, name)
            rel = osp.relpath(path, folder)
            if rel != MANIFEST:
                sizes[rel] = osp.getsize(path)
    return dict(sorted(sizes.items()))


def tree_bytes(repo: str = REPO) -> int:
    """Bytes of the working tree that travels anyway: tracked plus untracked-not-ignored
    files (0 where git is missing: the check then covers the folder alone)."""
    try:
        out = subprocess.run(['git', '-C', repo, 'ls-files', '-z', '-co', '--exclude-standard'],
                             capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    paths = (osp.join(repo, p.decode()) for p in out.split(b'\0') if p)
    return sum(osp.getsize(p) for p in paths if osp.isfile(p))


def wheel_requirements(path: str) -> Optional[List[str]]:
    """A wheel's Requires-Dist that apply on the device (extras and markers for other
    Pythons left out), or None for a file that is no readable wheel."""
    if not path.endswith('.whl'):
        return None
    try:
        with zipfile.ZipFile(path) as whl:
            meta = next(n for n in whl.namelist() if n.endswith('.dist-info/METADATA'))
            lines = whl.read(meta).decode('utf-8', 'replace').splitlines()
    except (OSError, zipfile.BadZipFile, StopIteration):
        return None
    reqs = []
    for line in lines:
        if not line.startswith('Requires-Dist:'):
            continue
        req, _, marker = line.split(':', 1)[1].partition(';')
        if marker.strip() and not _marker_applies(marker.strip()):
            continue
        reqs.append(req.strip())
    return reqs


def _marker_applies(marker: str) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # cannot tell: list it, the reader decides
        return 'extra' not in marker
    try:
        return Marker(marker).evaluate(DEVICE_MARKERS)
    except Exception:  # an unusual marker: keep the requirement visible
        return True


def write_manifest(folder: str, limit_mib: float = CARRY_LIMIT_MIB,
                   tree: Optional[int] = None, commit: str = 'unknown') -> str:
    """Write ``folder/MANIFEST.txt`` (one ``SIZE<TAB>PATH`` line per file, each wheel's
    requirements as comments) and return its text.

    Raises:
        SizeError: the folder plus ``tree`` bytes of working tree exceed ``limit_mib``; no
            manifest is written then, so ``gpu_check.sh run`` refuses the folder.
    """
    sizes = folder_files(folder)
    if not sizes:
        raise SizeError(f'{folder} holds no files: nothing was downloaded')
    tree = tree_bytes() if tree is None else tree
    total = sum(sizes.values())
    limit = limit_mib * 2**20
    if total + tree > limit:
        biggest = ', '.join(f'{p} ({s / 2**20:.2f} MiB)' for p, s in
                            sorted(sizes.items(), key=lambda kv: -kv[1])[:3])
        raise SizeError(
            f'{folder} holds {total / 2**20:.2f} MiB; with the working tree '
            f'({tree / 2**20:.2f} MiB) that is {(total + tree) / 2**20:.2f} MiB, over the '
            f'{limit_mib:g} MiB that one run call carries. Largest: {biggest}.')
    lines = [f'# gpu_check prepared folder, {datetime.date.today()}: Python 3.12 '
             'manylinux x86_64 wheels and the mmcv source for benchmarks/gpu_check.sh run',
             f'# commit: {commit}', '# size_bytes\tpath']
    for path, size in sizes.items():
        lines.append(f'{size}\t{path}')
        reqs = wheel_requirements(osp.join(folder, path))
        if reqs is not None:
            lines.append(f"#   requires: {', '.join(reqs) or '-'}")
    lines.append(f'# total {total} bytes ({total / 2**20:.1f} MiB); with the working tree '
                 f'({tree / 2**20:.1f} MiB): {(total + tree) / 2**20:.1f} of '
                 f'{limit_mib:g} MiB')
    text = '\n'.join(lines) + '\n'
    with open(osp.join(folder, MANIFEST), 'w') as f:
        f.write(text)
    return text


def read_manifest(folder: str) -> Dict[str, object]:
    """``{'commit': str, 'files': {path: size}}`` from ``folder/MANIFEST.txt``."""
    commit, files = 'unknown', {}
    with open(osp.join(folder, MANIFEST)) as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('# commit:'):
                commit = line.split(':', 1)[1].strip()
            elif line and not line.startswith('#'):
                size, path = line.split('\t', 1)
                files[path] = int(size)
    return dict(commit=commit, files=files)


def verify_folder(folder: str) -> List[str]:
    """What is wrong with a prepared folder (empty: every listed file there, same size)."""
    if not osp.isfile(osp.join(folder, MANIFEST)):
        return [f'{osp.join(folder, MANIFEST)} is missing']
    listed = read_manifest(folder)['files']
    present = folder_files(folder)
    problems = [f'{p}: missing' for p in listed if p not in present]
    problems += [f'{p}: {present[p]} bytes, manifest says {s}' for p, s in listed.items()
                 if p in present and present[p] != s]
    problems += [f'{p}: not in the manifest (prepare again)' for p in present if p not in listed]
    if not listed:
        problems.append('the manifest lists no files')
    return problems


# ---------------------------------------------------------------- run: environment
def device_env(commit_from: str = REPO) -> Dict[str, object]:
    """GPU, driver, torch/CUDA/nvcc versions, Python, cores and the mmka commit."""
    env: Dict[str, object] = dict(python=platform.python_version(), cores=os.cpu_count(),
                                  date=datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))
    try:
        import torch
        env.update(torch=torch.__version__, cuda=torch.version.cuda,
                   cuda_available=torch.cuda.is_available())
        if torch.cuda.is_available():
            env.update(gpu=torch.cuda.get_device_name(),
                       capability='%d.%d' % torch.cuda.get_device_capability())
    except Exception as err:  # torch itself broken: say so in the report
        env['torch'] = f'import failed: {err}'
    env['driver'] = _first_line(['nvidia-smi', '--query-gpu=driver_version',
                                 '--format=csv,noheader'])
    nvcc = _first_line(['nvcc', '--version'], last=True)
    env['nvcc'] = nvcc.split('release')[-1].strip() if nvcc else None
    # As mmka.utils.mmka_commit, without importing mmka (not installed yet at this step).
    commit = _first_line(['git', '-C', commit_from, 'rev-parse', '--short', 'HEAD'])
    dirty = _first_line(['git', '-C', commit_from, 'status', '--porcelain',
                         '--untracked-files=no'])
    env['commit'] = (commit + ('+dirty' if dirty else '')) if commit else 'unknown'
    return env


def _first_line(cmd: List[str], last: bool = False) -> Optional[str]:
    """First (or the release-bearing last) line of a command's output; None if it fails."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if not lines:
        return None
    if last:
        return next((line for line in lines if 'release' in line), lines[-1])
    return lines[0]


# ---------------------------------------------------------------- run: mmcv CUDA ops
def check_ops(device: str = 'cuda') -> List[str]:
    """nms and multi-scale deformable attention of ``mmcv.ops`` on ``device`` against
    references (CPU nms; mmcv's pure PyTorch attention, forward and gradients); on ``cpu``
    only nms runs (the attention has no CPU kernel). Raises AssertionError on a mismatch."""
    import torch
    from mmcv.ops import nms
    from mmcv.ops.multi_scale_deform_attn import (MultiScaleDeformableAttnFunction,
                                                  multi_scale_deformable_attn_pytorch)
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(500, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 10 + torch.rand(500, 2, generator=g) * 50], 1)
    scores = torch.rand(500, generator=g)
    _, keep_cpu = nms(boxes, scores, 0.5)
    _, keep = nms(boxes.to(device), scores.to(device), 0.5)
    assert keep.device.type == torch.device(device).type, keep.device
    assert torch.equal(keep.cpu(), keep_cpu), 'nms: kept boxes differ from the CPU kernel'
    lines = [f'nms on {device}: {len(keep)} of 500 boxes kept, same as the CPU kernel']
    if device == 'cpu':
        return lines + ['multi-scale deformable attention: no CPU kernel, not checked']

    shapes = torch.tensor([[16, 16], [8, 8], [4, 4]], device=device)
    starts = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
    bs, heads, dims, queries, points = 2, 4, 8, 30, 4
    keys = int((shapes[:, 0] * shapes[:, 1]).sum())
    value = torch.rand(bs, keys, heads, dims, device=device, requires_grad=True)
    loc = torch.rand(bs, queries, heads, len(shapes), points, 2, device=device,
                     requires_grad=True)
    weights = torch.rand(bs, queries, heads, len(shapes), points, device=device)
    weights = (weights / weights.sum((-1, -2), keepdim=True)).requires_grad_()
    out = MultiScaleDeformableAttnFunction.apply(value, shapes, starts, loc, weights, 64)
    ref = multi_scale_deformable_attn_pytorch(value, shapes, loc, weights)
    grads = torch.autograd.grad(out.sum(), (value, loc, weights))
    ref_grads = torch.autograd.grad(ref.sum(), (value, loc, weights))
    errors = [(out - ref).abs().max().item()] + [
        ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()
        for a, b in zip(grads, ref_grads)]
    assert errors[0] < 1e-4 and max(errors[1:]) < 1e-3, f'deformable attention: {errors}'
    return lines + [f'multi-scale deformable attention on {device}: forward max abs error '
                    f'{errors[0]:.1e}, gradients max rel error {max(errors[1:]):.1e} '
                    '(value, sampling locations, weights) against the PyTorch reference']


# ---------------------------------------------------------------- run: tiny-teacher training
def write_teachers(out_dir: str, config: str = 'configs/ka/shapes_2t.py',
                   seed: int = 0) -> List[str]:
    """Randomly initialised checkpoints of ``config``'s teachers (built from their own
    configs); their paths. Teacher weights do not change the cost of a training step."""
    import torch
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    sys.path.insert(0, REPO)
    import mmka  # noqa: F401  (registers the amalgamators' modules)
    register_all_modules()
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, teacher in enumerate(Config.fromfile(osp.join(REPO, config)).model.teachers):
        torch.manual_seed(seed + i)
        model = MODELS.build(Config.fromfile(osp.join(REPO, teacher['config'])).model)
        model.init_weights()
        path = osp.join(out_dir, f'teacher{i + 1}.pth')
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
        paths.append(path)
    return paths


def train_command(data_root: str, work_dir: str, teachers: List[str],
                  config: str = 'configs/ka/shapes_2t.py', amp: bool = True,
                  python: str = sys.executable) -> List[str]:
    """tools/train.py for one epoch of ``config`` on ``data_root`` with ``teachers``."""
    from mmengine.config import Config

    root = data_root.rstrip('/') + '/'
    ann_val = root + 'annotations/instances_val.json'
    hooks = Config.fromfile(osp.join(REPO, config)).model.hooks
    ta = next(i for i, h in enumerate(hooks) if h['type'] == 'TaskAmalgamation')
    options = [f'model.teachers.{i}.checkpoint={path}' for i, path in enumerate(teachers)]
    options += [
        # Random teachers are never confident: take their predictions as TA targets anyway.
        f'model.hooks.{ta}.targets.score_thr=0.0',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}', f'val_evaluator.ann_file={ann_val}',
        f'test_evaluator.ann_file={ann_val}',
        'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1']
    return [python, 'tools/train.py', config, *(['--amp'] if amp else []), '--work-dir',
            work_dir, '--cfg-options', *options]


# ---------------------------------------------------------------- run: the results file
def read_steps(logs: str) -> List[Dict[str, object]]:
    """Step records from ``logs/steps.tsv`` (``NAME<TAB>STATUS<TAB>SECONDS<TAB>CAP``, STATUS
    an exit code or ``skipped``) with each step's command (NAME.cmd) and log (NAME.log)."""
    steps = []
    with open(osp.join(logs, 'steps.tsv')) as f:
        for line in f:
            if not line.strip():
                continue
            name, status, seconds, cap = line.rstrip('\n').split('\t')
            steps.append(dict(name=name, status=status, seconds=float(seconds), cap=int(cap),
                              command=_read(osp.join(logs, name + '.cmd')).strip(),
                              output=_read(osp.join(logs, name + '.log'))))
    return steps


def _read(path: str) -> str:
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def status_text(step: Dict[str, object]) -> str:
    status = str(step['status'])
    if status == 'skipped':
        return 'skipped (time budget spent)'
    if status == '0':
        return 'ok'
    if status in ('124', '137'):  # timeout's exit codes: TERM, then KILL
        return f"timed out (limit {step['cap']} s)"
    return f'failed (exit {status})'


def render_report(steps: List[Dict[str, object]], env: Dict[str, object],
                  amalgamation: str = '', command: str = '', prepared_commit: str = 'unknown',
                  tail_lines: int = TAIL_LINES) -> str:
    """The markdown of gpu_check.md: environment, a step table, each step's command, exit
    status, seconds and last output lines, then amalgamation_step's report inlined."""
    commit = env.get('commit') or 'unknown'
    if commit == 'unknown':
        commit = f'unknown (no git checkout here); prepared from {prepared_commit}'
    gpu = env.get('gpu') or 'no GPU seen by torch'
    if env.get('capability'):
        gpu += f" (compute capability {env['capability']})"
    if env.get('driver'):
        gpu += f", driver {env['driver']}"
    lines = ['# GPU check', '',
             f"Date: {env.get('date') or datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}  ",
             f'GPU: {gpu}  ',
             f"torch {env.get('torch', 'unknown')}, CUDA {env.get('cuda') or 'none'}, nvcc "
             f"{env.get('nvcc') or 'not found'}; Python {env.get('python', 'unknown')}; "
             f"{env.get('cores', '?')} CPU cores  ",
             f'mmka commit: {commit}  ']
    if command:
        lines.append(f'Command: `{command}`')
    passed = sum(str(s['status']) == '0' for s in steps)
    lines += ['', f'{passed} of {len(steps)} steps passed.', '',
              '| step | status | seconds |', '|---|---|---|']
    lines += [f"| {s['name']} | {status_text(s)} | {s['seconds']:.1f} |" for s in steps]
    for i, step in enumerate(steps, 1):
        status = str(step['status'])
        if status == 'skipped':
            result = 'skipped, the time budget was spent'
        else:
            verdict = dict(zip(('0', '124', '137'), ['ok'] + 2 * [
                f"timed out at its {step['cap']} s limit"])).get(status, 'failed')
            result = f"{verdict}, exit status {status}, {step['seconds']:.1f} s"
        output = [line for line in str(step['output']).splitlines() if line.strip()]
        lines += ['', f"## {i}. {step['name']}", '', f"Command: `{step['command']}`  ",
                  f'Result: {result}']
        if output:
            lines += ['', f'Last {min(tail_lines, len(output))} lines of output:', '', '```']
            lines += [line.replace('```', "'''") for line in output[-tail_lines:]]
            lines += ['```']
        elif status != 'skipped':
            lines += ['', '(no output)']
    if amalgamation.strip():
        lines += ['', '## amalgamation_step on the GPU', '']
        # Its own headings one level down, under this file's.
        lines += [('#' + line if line.startswith('#') else line)
                  for line in amalgamation.strip().splitlines()]
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------- command line
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('manifest', help='write DIR/MANIFEST.txt; fail over the size limit')
    p.add_argument('dir')
    p.add_argument('--limit-mib', type=float, default=CARRY_LIMIT_MIB)
    p.add_argument('--tree-bytes', type=int,
                   help='working tree size (default: git ls-files of this checkout)')
    p.add_argument('--commit', default='unknown')
    p = sub.add_parser('verify', help='check DIR against its manifest')
    p.add_argument('dir')
    p = sub.add_parser('env', help='write the environment as JSON')
    p.add_argument('file')
    p = sub.add_parser('ops', help='check mmcv.ops kernels')
    p.add_argument('--device', default='cuda')
    p = sub.add_parser('train', help='random teachers, then tools/train.py for one epoch')
    p.add_argument('--data-root', required=True)
    p.add_argument('--work-dir', required=True)
    p.add_argument('--config', default='configs/ka/shapes_2t.py')
    p.add_argument('--no-amp', dest='amp', action='store_false')
    p = sub.add_parser('report', help='write gpu_check.md from the step logs')
    p.add_argument('--logs', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--amalgamation', default='')
    p.add_argument('--prepared', default='', help='the prepared folder (its commit)')
    p.add_argument('--command', default='')
    args = parser.parse_args(argv)

    if args.cmd == 'manifest':
        try:
            text = write_manifest(args.dir, args.limit_mib, args.tree_bytes, args.commit)
        except SizeError as err:
            print(f'error: {err}', file=sys.stderr)
            return 1
        print(text, end='')
    elif args.cmd == 'verify':
        problems = verify_folder(args.dir)
        for problem in problems:
            print(f'error: {args.dir}: {problem}', file=sys.stderr)
        if problems:
            return 1
        files = read_manifest(args.dir)['files']
        print(f'{args.dir}: {len(files)} files, {sum(files.values()) / 2**20:.1f} MiB, '
              'as the manifest lists')
    elif args.cmd == 'env':
        env = device_env()
        with open(args.file, 'w') as f:
            json.dump(env, f, indent=1)
        print(json.dumps(env, indent=1))
    elif args.cmd == 'ops':
        print('\n'.join(check_ops(args.device)))
    elif args.cmd == 'train':
        teachers = write_teachers(osp.join(args.work_dir, 'teachers'), args.config)
        cmd = train_command(args.data_root, args.work_dir, teachers, args.config, args.amp)
        print(' '.join(cmd), flush=True)
        return subprocess.run(cmd, cwd=REPO).returncode
    elif args.cmd == 'report':
        env = json.loads(_read(osp.join(args.logs, 'env.json')) or '{}')
        prepared = 'unknown'
        if args.prepared and osp.isfile(osp.join(args.prepared, MANIFEST)):
            prepared = read_manifest(args.prepared)['commit']
        text = render_report(read_steps(args.logs), env, _read(args.amalgamation),
                             args.command, prepared)
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(text)
        print(text, end='')
    return 0


if __name__ == '__main__':
    sys.exit(main())
