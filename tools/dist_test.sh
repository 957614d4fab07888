#!/usr/bin/env bash
# Multi-process evaluation with torchrun:
#   tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args]
# One process per GPU (NCCL); on a machine without GPUs, NUM_PROCS CPU processes over gloo.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROCS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
TOOLS=$(dirname "$0")
PYTHONPATH="$TOOLS/..:${PYTHONPATH:-}" \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROCS" --master_port="$PORT" \
    "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
