#!/usr/bin/env bash
# Distributed testing: torchrun starts GPUS processes of tools/test.py (gloo
# instead of nccl where CUDA is absent).
#
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options...]
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
#              PYTHON (the repo's .venv/bin/python when no environment is
#              activated, else python).
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py options...]" >&2
    exit 2
fi
source "$(dirname "$0")/_torchrun.sh"
torchrun_tool test.py "$3" "$1" "$2" "${@:4}"
