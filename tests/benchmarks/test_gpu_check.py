"""benchmarks/gpu_check.sh and its helper: arguments, the dry run, the prepared folder's
manifest and size check, the results file (no download, no GPU, no build here)."""
import json
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest

from ..conftest import REPO, load_tool

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import gpu_check_report as gc  # noqa: E402

SCRIPT = osp.join(REPO, 'benchmarks/gpu_check.sh')
STEPS = ['env', 'install', 'build_mmcv', 'ops', 'amalgamation_step', 'multiscale', 'train',
         'tests']


def script(*args, tmp_path=None):
    env = dict(os.environ, PYTHON=sys.executable)
    if tmp_path is not None:
        env['GPU_CHECK_WORK'] = str(tmp_path / 'work')
    return subprocess.run(['bash', SCRIPT, *args], capture_output=True, text=True, env=env,
                          timeout=60)


def fake_wheel(path, requires):
    with zipfile.ZipFile(path, 'w') as whl:
        whl.writestr('fake-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\nName: fake\n' +
                     ''.join(f'Requires-Dist: {r}\n' for r in requires))


@pytest.fixture
def prepared(tmp_path):
    """A prepared folder of small fake files with its manifest."""
    folder = tmp_path / 'prep'
    (folder / 'wheels').mkdir(parents=True)
    fake_wheel(folder / 'wheels/fake-1.0-py3-none-any.whl', ['numpy'])
    (folder / 'mmcv-2.1.0.tar.gz').write_bytes(b'x' * 1000)
    gc.write_manifest(str(folder), tree=0, commit='abc1234')
    return folder


@pytest.mark.parametrize('args, message', [
    ((), 'a mode is needed'),
    (('frobnicate', ), "unknown mode 'frobnicate'"),
    (('run', '--bogus'), "unknown option '--bogus'"),
    (('prepare', '--out', 'x'), '--out is an option of run'),
    (('prepare', '--skip-build'), '--skip-build is an option of run'),
    (('run', '--dir'), '--dir needs a value'),
    (('run', '--budget', 'soon'), '--budget takes whole seconds'),
])
def test_usage_errors_exit_2_with_the_usage(args, message):
    proc = script(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and 'usage: bash benchmarks/gpu_check.sh prepare' in proc.stderr


def test_help():
    for args in (('--help', ), ('run', '--help')):
        proc = script(*args)
        assert proc.returncode == 0 and proc.stdout.startswith('usage:')
        assert '--skip-build' in proc.stdout and '--dry-run' in proc.stdout


@pytest.mark.parametrize('dry_run', [(), ('--dry-run', )])
def test_run_without_a_prepared_folder_names_prepare(tmp_path, dry_run):
    proc = script('run', '--dir', str(tmp_path / 'missing'), *dry_run, tmp_path=tmp_path)
    assert proc.returncode == 1
    assert 'MANIFEST.txt is missing' in proc.stderr
    assert "bash benchmarks/gpu_check.sh prepare --dir" in proc.stderr
    assert not (tmp_path / 'work').exists()


def test_dry_run_lists_the_steps_in_order(prepared, tmp_path):
    out = tmp_path / 'out'
    proc = script('run', '--dir', str(prepared), '--out', str(out), '--dry-run',
                  tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    steps = [line.split('. ', 1) for line in proc.stdout.splitlines() if line[:1].isdigit()]
    assert [s[1].split()[0] for s in steps] == STEPS
    assert [int(s[0]) for s in steps] == list(range(1, len(STEPS) + 1))
    command = dict((s[1].split()[0], s[1]) for s in steps)
    assert '--no-index --no-deps' in command['install'] and '--target' in command['install']
    assert f'{prepared}/wheels/*.whl' in command['install']
    build = command['build_mmcv']
    for part in ('get_device_capability', 'TORCH_CUDA_ARCH_LIST=$arch', 'MMCV_WITH_OPS=1',
                 'FORCE_CUDA=1', 'MAX_JOBS=$(nproc)', '--no-build-isolation',
                 f'{prepared}/mmcv-2.1.0.tar.gz'):
        assert part in build, part
    assert 'mmcv.ops' in command['ops'] and 'ops --device cuda' in command['ops']
    assert f'--device cuda --steps 20 --out {out}/amalgamation_step_cuda.md' in \
        command['amalgamation_step']
    assert 'generate_shapes.py' in command['train'] and ' train --data-root' in command['train']
    assert 'CUDA_VISIBLE_DEVICES=0' in command['tests']
    assert f'report --logs {tmp_path}/work/logs --out {out}/gpu_check.md' in proc.stdout
    assert f'{prepared}: 2 files' in proc.stdout  # the manifest was checked
    assert not out.exists() and not (tmp_path / 'work').exists()  # nothing ran


def test_dry_run_step_selection(prepared, tmp_path):
    def steps(*args):
        proc = script('run', '--dir', str(prepared), '--dry-run', *args, tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return [line.split()[1] for line in proc.stdout.splitlines() if line[:1].isdigit()]

    assert steps('--skip-build') == [s for s in STEPS if s != 'build_mmcv']
    assert steps('--steps', 'ops,train') == ['ops', 'train']
    proc = script('run', '--dir', str(prepared), '--dry-run', '--steps', 'ops,nope')
    assert proc.returncode == 2 and "unknown step 'nope'" in proc.stderr


@pytest.mark.parametrize('budget, status', [(200, 'ok'), (30, 'skipped (time budget spent)')])
def test_run_records_each_step_and_writes_the_report(prepared, tmp_path, budget, status):
    """A real run of the one step that needs no GPU; with too small a budget it is skipped
    and the report is still written."""
    out = tmp_path / 'out'
    proc = script('run', '--dir', str(prepared), '--out', str(out), '--steps', 'env',
                  '--budget', str(budget), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = (out / 'gpu_check.md').read_text()
    assert f'| env | {status} |' in report
    assert f'--steps env --budget {budget}`' in report
    assert (out / 'gpu_check_logs.tar.gz').is_file()  # --out given: the logs come back
    assert proc.stdout.rstrip().endswith(f'results in {out}/gpu_check.md')


def test_run_refuses_a_folder_that_differs_from_its_manifest(prepared, tmp_path):
    (prepared / 'mmcv-2.1.0.tar.gz').write_bytes(b'x' * 10)
    (prepared / 'wheels/extra-2.0-py3-none-any.whl').write_bytes(b'y')
    proc = script('run', '--dir', str(prepared), '--dry-run', tmp_path=tmp_path)
    assert proc.returncode == 1
    assert 'mmcv-2.1.0.tar.gz: 10 bytes, manifest says 1000' in proc.stderr
    assert 'wheels/extra-2.0-py3-none-any.whl: not in the manifest' in proc.stderr
    assert 'does not match its manifest: prepare it again' in proc.stderr


def test_manifest_lists_sizes_and_device_requirements(prepared):
    text = (prepared / 'MANIFEST.txt').read_text()
    assert '# commit: abc1234' in text
    assert '1000\tmmcv-2.1.0.tar.gz' in text
    size = (prepared / 'wheels/fake-1.0-py3-none-any.whl').stat().st_size
    assert f'{size}\twheels/fake-1.0-py3-none-any.whl\n#   requires: numpy\n' in text
    assert gc.read_manifest(str(prepared)) == dict(commit='abc1234', files={
        'mmcv-2.1.0.tar.gz': 1000, 'wheels/fake-1.0-py3-none-any.whl': size})
    assert gc.verify_folder(str(prepared)) == []


def test_wheel_requirements_keep_what_applies_to_python_3_12(tmp_path):
    path = tmp_path / 'w-1.0-py3-none-any.whl'
    fake_wheel(path, ['numpy>=1.26', 'tomli>=2.0.1; python_version < "3.11"',
                      'pytest; extra == "tests"', 'platformdirs >=3.5.1'])
    assert gc.wheel_requirements(str(path)) == ['numpy>=1.26', 'platformdirs >=3.5.1']
    assert gc.wheel_requirements(str(tmp_path / 'mmcv-2.1.0.tar.gz')) is None


def test_size_check_against_the_carry_limit(tmp_path):
    folder = tmp_path / 'prep'
    folder.mkdir()
    (folder / 'big.whl').write_bytes(b'0' * 700_000)
    (folder / 'small.tar.gz').write_bytes(b'0' * 100_000)
    assert '800000 bytes (0.8 MiB)' in gc.write_manifest(str(folder), limit_mib=1, tree=0)
    os.remove(folder / 'MANIFEST.txt')
    # The working tree travels too: 300 kB more is over 1 MiB; no manifest is written then.
    with pytest.raises(gc.SizeError, match=r'that is 1\.05 MiB, over the 1 MiB .*Largest: '
                       r'big\.whl \(0\.67 MiB\), small\.tar\.gz'):
        gc.write_manifest(str(folder), limit_mib=1, tree=300_000)
    assert not (folder / 'MANIFEST.txt').exists()
    proc = subprocess.run([sys.executable, osp.join(REPO, 'benchmarks/gpu_check_report.py'),
                           'manifest', str(folder), '--limit-mib', '0.5', '--tree-bytes', '0'],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and 'over the 0.5 MiB that one run call carries' in proc.stderr
    with pytest.raises(gc.SizeError, match='nothing was downloaded'):
        gc.write_manifest(str(tmp_path / 'empty'), tree=0)


def test_report_from_step_records_with_a_failure(tmp_path, prepared):
    logs = tmp_path / 'logs'
    logs.mkdir()
    (logs / 'steps.tsv').write_text('env\t0\t1.23\t60\nbuild_mmcv\t1\t200.0\t420\n'
                                    'train\t124\t180.4\t180\ntests\tskipped\t0\t0\n')
    (logs / 'env.cmd').write_text('python3 helper env\n')
    (logs / 'env.log').write_text('{"gpu": "H200"}\n')
    (logs / 'build_mmcv.cmd').write_text('pip install mmcv\n')
    (logs / 'build_mmcv.log').write_text('\n'.join(f'line {i}' for i in range(30)) +
                                         '\nerror: ```nvcc``` failed\n')
    (logs / 'train.cmd').write_text('python3 tools/train.py\n')
    (logs / 'tests.cmd').write_text('pytest\n')
    (logs / 'env.json').write_text(json.dumps(dict(
        date='2026-11-30 12:00', gpu='NVIDIA H200', capability='9.0', driver='580.1',
        torch='2.11.0+cu130', cuda='13.0', nvcc='13.0, V13.0.88', python='3.12.3',
        cores=16, commit='unknown')))
    amalgamation = tmp_path / 'amalgamation_step_cuda.md'
    amalgamation.write_text('# Amalgamation training-step cost\n\n| model | step (s) |\n'
                            '|---|---|\n| Raw | 0.010 |\n')
    out = tmp_path / 'results/gpu_check.md'
    assert gc.main(['report', '--logs', str(logs), '--out', str(out), '--amalgamation',
                    str(amalgamation), '--prepared', str(prepared), '--command',
                    'bash benchmarks/gpu_check.sh run --out /out']) == 0
    build_tail = '\n'.join(f'line {i}' for i in range(16, 30))
    assert out.read_text() == f"""# GPU check

Date: 2026-11-30 12:00  
GPU: NVIDIA H200 (compute capability 9.0), driver 580.1  
torch 2.11.0+cu130, CUDA 13.0, nvcc 13.0, V13.0.88; Python 3.12.3; 16 CPU cores  
mmka commit: unknown (no git checkout here); prepared from abc1234  
Command: `bash benchmarks/gpu_check.sh run --out /out`

1 of 4 steps passed.

| step | status | seconds |
|---|---|---|
| env | ok | 1.2 |
| build_mmcv | failed (exit 1) | 200.0 |
| train | timed out (limit 180 s) | 180.4 |
| tests | skipped (time budget spent) | 0.0 |

## 1. env

Command: `python3 helper env`  
Result: ok, exit status 0, 1.2 s

Last 1 lines of output:

```
{{"gpu": "H200"}}
```

## 2. build_mmcv

Command: `pip install mmcv`  
Result: failed, exit status 1, 200.0 s

Last 15 lines of output:

```
{build_tail}
error: '''nvcc''' failed
```

## 3. train

Command: `python3 tools/train.py`  
Result: timed out at its 180 s limit, exit status 124, 180.4 s

(no output)

## 4. tests

Command: `pytest`  
Result: skipped, the time budget was spent

## amalgamation_step on the GPU

## Amalgamation training-step cost

| model | step (s) |
|---|---|
| Raw | 0.010 |
"""


def test_report_without_environment_or_amalgamation(tmp_path):
    (tmp_path / 'steps.tsv').write_text('install\t2\t3.0\t120\n')
    text = gc.render_report(gc.read_steps(str(tmp_path)), {}, '', '', 'abc1234')
    assert 'GPU: no GPU seen by torch  ' in text and 'nvcc not found' in text
    assert '| install | failed (exit 2) | 3.0 |' in text and '(no output)' in text
    assert 'amalgamation_step' not in text


def test_train_command_configures_one_amp_epoch_on_the_small_data(tmp_path):
    train = load_tool('train')
    teachers = [str(tmp_path / 't1.pth'), str(tmp_path / 't2.pth')]
    cmd = gc.train_command(str(tmp_path / 'shapes'), str(tmp_path / 'work'), teachers)
    assert cmd[1:4] == ['tools/train.py', 'configs/ka/shapes_2t.py', '--amp']
    cfg = train.build_config(train.parse_args(cmd[2:]))
    assert [t['checkpoint'] for t in cfg.model.teachers] == teachers
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.train_cfg.max_epochs == 1
    root = str(tmp_path / 'shapes') + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.data_root == root
    assert cfg.val_evaluator.ann_file == root + 'annotations/instances_val.json'
    ta = [h for h in cfg.model.hooks if h['type'] == 'TaskAmalgamation']
    assert ta[0]['targets']['score_thr'] == 0.0 and ta[0]['targets']['max_targets'] == 50
    assert cfg.work_dir == str(tmp_path / 'work')


def test_check_ops_on_cpu():
    lines = gc.check_ops('cpu')
    assert lines[0].startswith('nms on cpu:') and 'same as the CPU kernel' in lines[0]

