#!/usr/bin/env bash
# Training on a Slurm cluster: srun starts GPUS tasks of tools/train.py, which
# MMEngine's `slurm` launcher joins.
#
# Usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options...]
# Environment: GPUS (8), GPUS_PER_NODE (8; 0 requests no GPUs), CPUS_PER_TASK (5),
#              SRUN_ARGS (""), PYTHON (the repo's .venv/bin/python
#              when no environment is activated, else python).
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options...]" >&2
    exit 2
fi
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
source "$(dirname "$0")/_python.sh"
GRES=()
TASKS_PER_NODE=()
if [ "$GPUS_PER_NODE" -gt 0 ]; then
    GRES=(--gres="gpu:$GPUS_PER_NODE")
    TASKS_PER_NODE=(--ntasks-per-node="$GPUS_PER_NODE")
fi

# SRUN_ARGS is split on purpose: it holds several srun options.
# shellcheck disable=SC2086
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    "${GRES[@]}" \
    --ntasks="$GPUS" \
    "${TASKS_PER_NODE[@]}" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$TOOLS/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher="slurm" "${@:5}"
