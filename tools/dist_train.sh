#!/usr/bin/env bash
# Distributed training: torchrun starts GPUS processes of tools/train.py (gloo
# instead of nccl where CUDA is absent, so `tools/dist_train.sh CONFIG 2` also
# works on a CPU-only machine).
#
# Usage: tools/dist_train.sh CONFIG GPUS [train.py options...]
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
#              PYTHON (the repo's .venv/bin/python when no environment is
#              activated, else python).
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py options...]" >&2
    exit 2
fi
source "$(dirname "$0")/_torchrun.sh"
torchrun_tool train.py "$2" "$1" "${@:3}"
