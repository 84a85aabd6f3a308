# Sourced by dist_train.sh and dist_test.sh: torchrun_tool SCRIPT NPROC ARGS...
# starts NPROC processes of tools/SCRIPT with ARGS --launcher pytorch, which
# MMEngine's `pytorch` launcher joins (gloo instead of nccl where CUDA is absent).
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
source "$(dirname "${BASH_SOURCE[0]}")/_python.sh"

torchrun_tool() {
    local script=$1 nproc=$2
    shift 2
    exec "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$nproc" \
        --master_port="${PORT:-29500}" \
        "$TOOLS/$script" "$@" --launcher pytorch
}
