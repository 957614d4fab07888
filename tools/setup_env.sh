#!/usr/bin/env bash
# Idempotent environment set-up for mmka: a project virtual environment in .venv with
# torch, mmcv 2.1.0 (compiled ops), mmengine 0.10.7, mmdet 3.3.0 and mmka (editable).
# A second run finds everything installed and returns in seconds.
#
#   MMKA_VENV   where the environment lives (default: <repo>/.venv)
#   MMKA_TORCH  the torch requirement (default: torch==2.13.0, the CPU wheel on disk here;
#               on a GPU machine install a CUDA torch first, see README "GPU install")
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MMKA_VENV:-$repo/.venv}
torch_req=${MMKA_TORCH:-torch==2.13.0}
stamp=$venv/.mmka-installed

if [ -f "$stamp" ] && [ "$stamp" -nt "$repo/pyproject.toml" ] \
   && "$venv/bin/python" -c "import mmka, mmcv.ops" >/dev/null 2>&1; then
  exit 0
fi

log() { printf '[setup_env] %s\n' "$*" >&2; }
t0=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment $venv"
  python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)

if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
  log "installing $torch_req"
  "${pip[@]}" "$torch_req"
fi
# mmcv 2.1.0 is built without isolation and its setup.py imports pkg_resources, as does
# mmengine at run time (for `mmdet::` config paths). torch 2.13 wants setuptools >= 77 and
# setuptools 81 dropped pkg_resources, hence the window (pyproject.toml pins it too).
"${pip[@]}" 'setuptools>=77,<81' wheel ninja
if ! "$venv/bin/python" -c "import mmcv.ops" >/dev/null 2>&1; then
  log "installing mmcv 2.1.0 (compiles the ops from source the first time: ~10 min on 2 cores)"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "${pip[@]}" --no-build-isolation 'mmcv==2.1.0'
fi
log "installing mmengine, mmdet and mmka (editable)"
"${pip[@]}" --no-build-isolation -e "$repo[tests]"
touch "$stamp"
log "environment ready in $(( $(date +%s) - t0 )) s"
