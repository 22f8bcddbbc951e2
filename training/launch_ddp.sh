#!/usr/bin/env bash
# Multi-GPU (or multi-process CPU) training with torchrun / DistributedDataParallel.
#
#   training/launch_ddp.sh NPROC --data DATA/annotations/train.json \
#       --val DATA/annotations/val.json --out runs/ddp --config paper
#
# NPROC processes on this machine (one per GPU; on CPU they use the gloo backend). Batch
# sizes in the recipe are per process, so the global batch is NPROC x batch_size: scale the
# learning rates (linear rule) or the batch size if you want the single-process schedule.
# Several machines: run the same command on each with
#   NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host-of-rank-0 MASTER_PORT=29500 training/launch_ddp.sh ...
set -euo pipefail
nproc="${1:?usage: $0 NPROC radiogal-train-arguments...}"
shift
exec torchrun \
    --nnodes "${NNODES:-1}" \
    --node-rank "${NODE_RANK:-0}" \
    --nproc-per-node "$nproc" \
    --master-addr "${MASTER_ADDR:-127.0.0.1}" \
    --master-port "${MASTER_PORT:-29500}" \
    -m napari_radiogal train "$@"
