#!/usr/bin/env bash
# One-shot GPU check of mmka for a lent device machine (one NVIDIA GPU, Python 3.12 with a
# CUDA torch and nvcc, no package registry, a few minutes of device time).
#
#   bash benchmarks/gpu_check.sh prepare [--dir .gpu_check] [--dry-run]
#       Here, where pip reaches a registry: download the wheels the device lacks and the
#       mmcv 2.1.0 source into DIR (ignored by git), write DIR/MANIFEST.txt with the sizes;
#       fails if DIR plus the working tree would not fit into one run call (64 MiB).
#   bash benchmarks/gpu_check.sh run [--dir .gpu_check] [--out benchmarks/results]
#                                    [--skip-build] [--steps a,b] [--budget 540] [--dry-run]
#       On the device: install the wheels, build mmcv's CUDA ops for this GPU, then run the
#       checks, each timed and allowed to fail, inside one time budget; write OUT/gpu_check.md.
#       --dry-run prints the steps (and checks DIR) without running them.
#
# Environment: PYTHON (interpreter; prepare: .venv/bin/python if present, run: python3),
# GPU_CHECK_WORK (scratch folder of run, default /tmp/gpu_check: site, build, logs).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
helper=benchmarks/gpu_check_report.py

# What the device lacks (its image's package list), for Python 3.12 / manylinux x86_64. The
# versions are tools/setup_env.sh's pins and what its .venv resolved. One version of each:
# two versions of one package stop the whole install there.
WHEELS=(
  mmengine==0.10.7 mmdet==3.3.0 pycocotools==2.0.11
  addict==2.4.0 yapf==0.43.0 platformdirs==4.14.9 termcolor==3.3.0  # mmengine, mmcv, yapf
  shapely==2.2.0 terminaltables==3.1.10                             # mmdet
  setuptools==80.10.2  # mmcv's setup.py and mmengine import pkg_resources, gone in 81
)
MMCV=mmcv==2.1.0
# Platform tags pip may take (it matches each exactly); the device's glibc is far newer.
PLATFORMS=(manylinux_2_39_x86_64 manylinux_2_35_x86_64 manylinux_2_34_x86_64
           manylinux_2_31_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64
           manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)
# Steps of run, in order: the GPU-specific ones before the test subset, which runs on the
# CPU there too, so a build that eats the budget costs the least informative step.
STEPS=(env install build_mmcv ops amalgamation_step multiscale train tests)

usage() {
  cat <<EOF
usage: bash benchmarks/gpu_check.sh prepare [--dir DIR] [--dry-run]
       bash benchmarks/gpu_check.sh run [--dir DIR] [--out DIR] [--skip-build]
                                        [--steps LIST] [--budget SECONDS] [--dry-run]
       bash benchmarks/gpu_check.sh --help

  prepare   download into DIR (default .gpu_check) the wheels and the mmcv source that the
            device lacks, and write DIR/MANIFEST.txt (fails over the 64 MiB carry limit)
  run       on the GPU machine: install, build mmcv's CUDA ops, run the checks, write
            OUT/gpu_check.md (default OUT: benchmarks/results)

  --dir DIR         the prepared folder (default .gpu_check; relative paths are taken
                    from the repository root)
  --out DIR         where run writes gpu_check.md, amalgamation_step_cuda.md and, when
                    --out is given, gpu_check_logs.tar.gz (on the device: --out \$OUT)
  --skip-build      keep the mmcv built by an earlier run on the same (warm) machine
  --steps LIST      run only these steps, comma-separated, of: ${STEPS[*]}
  --budget SECONDS  the whole run's time limit, report included (default 540)
  --dry-run         print what would run, touch nothing (run still checks DIR)
EOF
}
die() { printf 'gpu_check: error: %s\n' "$*" >&2; exit 1; }
bad_usage() { printf 'gpu_check: %s\n' "$*" >&2; usage >&2; exit 2; }

mode=${1:-}
case $mode in
  prepare | run) shift ;;
  -h | --help | help) usage; exit 0 ;;
  '') bad_usage 'a mode is needed: prepare or run' ;;
  *) bad_usage "unknown mode '$mode'" ;;
esac
dir=.gpu_check out='' skip_build=0 dry_run=0 budget=540 only=''
while (($#)); do
  opt=$1
  case $opt in
    --dir | --out | --steps | --budget)
      (($# >= 2)) || bad_usage "$opt needs a value"
      [ "$mode" = run ] || [ "$opt" = --dir ] || bad_usage "$opt is an option of run"
      case $opt in
        --dir) dir=$2 ;; --out) out=$2 ;; --steps) only=$2 ;; --budget) budget=$2 ;;
      esac
      shift 2 ;;
    --skip-build) [ "$mode" = run ] || bad_usage "$opt is an option of run"
      skip_build=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) bad_usage "unknown option '$opt'" ;;
  esac
done
[[ $budget =~ ^[0-9]+$ ]] || bad_usage "--budget takes whole seconds, not '$budget'"
dir=${dir%/}

# ----------------------------------------------------------------------------- prepare
prepare() {
  local py=${PYTHON:-}
  if [ -z "$py" ]; then [ -x .venv/bin/python ] && py=.venv/bin/python || py=python3; fi
  local platform_args=() p
  for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done
  local wheel_cmd=("$py" -m pip download -q --disable-pip-version-check --no-deps
                   --only-binary=:all: --python-version 3.12 --implementation cp
                   "${platform_args[@]}" -d "$dir/wheels" "${WHEELS[@]}")
  # The sdist, as setup_env.sh's `pip install mmcv==2.1.0` gets it. pip reads its metadata
  # by running setup.py, which imports torch: hence this environment, not an isolated one.
  local sdist_cmd=("$py" -m pip download -q --disable-pip-version-check --no-deps
                   --no-binary :all: --no-build-isolation -d "$dir" "$MMCV")
  local commit
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit+=+dirty
  fi
  local manifest_cmd=("$py" "$helper" manifest "$dir" --commit "$commit")
  if ((dry_run)); then
    printf '%s\n' "rm -rf $dir (a fresh folder: no stale second versions)" \
      "${wheel_cmd[*]}" "${sdist_cmd[*]}" "${manifest_cmd[*]}"
    return
  fi
  # rm -rf below: only ever on a folder this mode made (or an empty one).
  local abs
  abs=$(mkdir -p "$dir" && cd "$dir" && pwd)
  case $abs in / | "$repo" | "$HOME") die "--dir $dir: refusing to replace $abs" ;; esac
  if [ -n "$(ls -A "$dir")" ] && [ ! -d "$dir/wheels" ]; then
    die "$dir holds files but is no prepared folder; choose another --dir or empty it"
  fi
  # Keep the folder out of git (and so out of what travels, unless carried).
  if [ -d .git ] && [[ $abs == "$repo"/* ]] && ! git check-ignore -q "$dir"; then
    echo "/${abs#"$repo"/}/" >>.git/info/exclude
    echo "gpu_check: added /${abs#"$repo"/}/ to .git/info/exclude"
  fi
  rm -rf "$dir" && mkdir -p "$dir/wheels"
  echo "gpu_check: downloading ${#WHEELS[@]} wheels and the $MMCV source into $dir"
  "${wheel_cmd[@]}"
  "${sdist_cmd[@]}"
  "${manifest_cmd[@]}"
  echo "gpu_check: $dir is ready; carry it: run(command='bash benchmarks/gpu_check.sh run" \
    "--dir $dir --out \$OUT', carry=['$dir'])"
}

# ----------------------------------------------------------------------------- run
run_checks() {
  local py=${PYTHON:-python3}
  [ -f "$dir/MANIFEST.txt" ] || die "no prepared folder: $dir/MANIFEST.txt is missing." \
    "Run 'bash benchmarks/gpu_check.sh prepare --dir $dir' first, where pip reaches a" \
    "registry, and carry '$dir' to the device."
  "$py" "$helper" verify "$dir" || die "$dir does not match its manifest: prepare it again"
  local sdist
  sdist=$(cd "$dir" && ls mmcv-*.tar.gz 2>/dev/null | head -n 1) ||
    die "no mmcv-*.tar.gz in $dir: prepare it again"
  [ -n "$sdist" ] || die "no mmcv-*.tar.gz in $dir: prepare it again"

  local work=${GPU_CHECK_WORK:-/tmp/gpu_check} default_out=0
  [ -n "$out" ] || { out=benchmarks/results; default_out=1; }
  local site=$work/site logs=$work/logs src=$work/src/${sdist%.tar.gz}
  local deselect=tests/tools/test_amalgamation_e2e.py::test_amalgamation_two_processes_gloo
  # The commands, one string each (run with bash -c, printed as they are by --dry-run).
  declare -A cmd cap
  cmd[env]="nvidia-smi; $py $helper env $logs/env.json"
  cap[env]=60
  # As the device README does it: no registry there, no dependency resolution.
  cmd[install]="$py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
--upgrade --target $site $dir/wheels/*.whl && { $py -m pip check || echo 'pip check: \
informative only (the device has opencv-python-headless, mmcv and mmengine name opencv-python)'; }"
  cap[install]=120
  # mmcv's ops for this GPU's architecture alone, all cores; built in its unpacked source
  # folder (pip builds local folders in place), so a rerun on a warm machine resumes.
  cmd[build_mmcv]="mkdir -p $work/src && { [ -d $src ] || tar -xzf $dir/$sdist -C $work/src; } \
&& arch=\$($py -c 'import torch; print(\"%d.%d\" % torch.cuda.get_device_capability())') \
&& export TORCH_CUDA_ARCH_LIST=\$arch MMCV_WITH_OPS=1 FORCE_CUDA=1 MAX_JOBS=\$(nproc) \
&& echo \"arch \$TORCH_CUDA_ARCH_LIST, \$MAX_JOBS jobs, ninja \$(ninja --version)\" \
&& $py -m pip install -v --no-index --no-deps --no-build-isolation --no-cache-dir \
--upgrade --target $site $src"
  cap[build_mmcv]=420
  cmd[ops]="$py -c 'import torch, mmcv, mmcv.ops, mmengine, mmdet, mmka; \
print(\"torch\", torch.__version__, \"mmcv\", mmcv.__version__, \"mmengine\", \
mmengine.__version__, \"mmdet\", mmdet.__version__, \"GPU\", torch.cuda.get_device_name())' \
&& $py $helper ops --device cuda"
  cap[ops]=90
  cmd[amalgamation_step]="$py benchmarks/amalgamation_step.py --device cuda --steps 20 \
--out $out/amalgamation_step_cuda.md"
  cap[amalgamation_step]=240
  # The DINO student on mmcv's CUDA deformable attention (the CPU runs its PyTorch
  # fallback): N = 1 / 2 / 4 cost and slim / Raw inference.
  cmd[multiscale]="$py benchmarks/multiscale_student.py --device cuda --repeats 10 \
--out $out/multiscale_student_cuda.md"
  cap[multiscale]=120
  cmd[train]="$py tools/misc/generate_shapes.py $work/shapes_small --num-train 96 \
--num-val 32 && $py $helper train --data-root $work/shapes_small --work-dir $work/train"
  cap[train]=180
  # These build and run the models through mmdet/mmcv/mmengine on the device's Python,
  # torch and numpy; the tests that go through the Runner train and evaluate on the GPU
  # (it moves the model to the visible device). The 2-process dist_train test expects no
  # GPU (one GPU, two NCCL ranks).
  cmd[tests]="CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=1 $py -m pytest -p no:cacheprovider \
-q -n 8 --timeout 240 tests/models tests/engine tests/test_configs.py \
tests/tools/test_amalgamation_e2e.py --deselect $deselect"
  cap[tests]=240

  local steps=("${STEPS[@]}") s
  if [ -n "$only" ]; then
    IFS=, read -r -a steps <<<"$only"
    for s in "${steps[@]}"; do
      [ -n "${cmd[$s]:-}" ] || bad_usage "unknown step '$s' in --steps"
    done
  fi
  if ((skip_build)); then
    local kept=()
    for s in "${steps[@]}"; do [ "$s" = build_mmcv ] || kept+=("$s"); done
    steps=("${kept[@]}")
  fi

  # Everything a step needs: the carried packages and mmka itself (not pip-installed
  # there), unbuffered output for the logs, the interpreter's bin (ninja, pip) and nvcc.
  local bin  # the interpreter's own folder (not a shim's): pip put ninja there
  bin=$("$py" -c 'import os, sys; print(os.path.dirname(sys.executable))')
  local setup="export PYTHONPATH=$repo:$site\${PYTHONPATH:+:\$PYTHONPATH} PYTHONUNBUFFERED=1 \
PATH=$bin:\$PATH:/usr/local/cuda/bin"
  if ((dry_run)); then
    echo "gpu_check run (dry run): prepared folder $dir, results in $out, scratch $work," \
      "budget $budget s"
    echo "$setup"
    local i=0
    for s in "${steps[@]}"; do
      i=$((i + 1))
      printf '%d. %s (at most %d s): %s\n' "$i" "$s" "${cap[$s]}" "${cmd[$s]}"
    done
    echo "report: $py $helper report --logs $logs --out $out/gpu_check.md"
    return
  fi

  local start deadline
  start=$(date +%s)
  deadline=$((start + budget - 30)) # 30 s kept for the report and the kill grace
  eval "$setup"
  rm -rf "$logs" && mkdir -p "$logs" "$out"
  local i=0 left limit t0 rc seconds amalgamation=''
  for s in "${steps[@]}"; do
    i=$((i + 1))
    printf '%s\n' "${cmd[$s]}" >"$logs/$s.cmd"
    left=$((deadline - $(date +%s)))
    if ((left < 20)); then
      printf '%s\tskipped\t0\t0\n' "$s" >>"$logs/steps.tsv"
      echo "gpu_check: $i/${#steps[@]} $s skipped: the budget is spent"
      continue
    fi
    limit=$((cap[$s] < left ? cap[$s] : left))
    echo "gpu_check: $i/${#steps[@]} $s (at most $limit s)"
    t0=$(date +%s.%N)
    # Not under set -e: a failing step is recorded and the next one runs. timeout kills
    # the step's whole process group (nvcc, pytest workers, benchmark children).
    rc=0
    timeout -k 10 "$limit" bash -c "${cmd[$s]}" >"$logs/$s.log" 2>&1 || rc=$?
    seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    printf '%s\t%s\t%s\t%s\n' "$s" "$rc" "$seconds" "$limit" >>"$logs/steps.tsv"
    echo "gpu_check: $i/${#steps[@]} $s: exit $rc after $seconds s"
    # Inline only this run's table (the results folder may hold an older one).
    [ "$s$rc" != amalgamation_step0 ] || amalgamation=$out/amalgamation_step_cuda.md
  done
  local invocation="bash benchmarks/gpu_check.sh run --dir $dir --out $out"
  ((skip_build)) && invocation+=" --skip-build"
  [ -n "$only" ] && invocation+=" --steps $only"
  invocation+=" --budget $budget"
  "$py" "$helper" report --logs "$logs" --out "$out/gpu_check.md" --prepared "$dir" \
    --amalgamation "$amalgamation" --command "$invocation" || true
  # The full logs come back with the results where OUT is a device's $OUT (at most 8 files
  # there); in the repo's results folder they would only clutter it.
  ((default_out)) || tar -czf "$out/gpu_check_logs.tar.gz" -C "$work" logs || true
  echo "gpu_check: done in $(($(date +%s) - start)) s; results in $out/gpu_check.md"
}

case $mode in
  prepare) prepare ;;
  run) run_checks ;;
esac
