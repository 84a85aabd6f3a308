#!/usr/bin/env bash
# The GPU suite in one command (issue 18): a bare lent GPU machine to one results JSON.
#
#   bash tools/benchmarks/gpu_suite.sh            # GPU machine: installs .gpu/ wheels, runs all
#   bash tools/benchmarks/gpu_suite.sh --dry-run  # here: every step, tiny sizes, CPU, .venv
#
# The GPU machine (Python 3.12, torch + CUDA, torchvision, numpy, opencv, no
# OpenMMLab packages, no network) gets the OpenMMLab wheels from .gpu/ (git-
# ignored; travels with the checkout: `mkdir -p .gpu && cp ../shared/wheels/cp312/* .gpu/`,
# device tool `carry: [".gpu"]`). They go into a virtual environment, $VENV, made with
# --system-site-packages so that it keeps the system's torch, by pip --no-index
# --no-deps; mmcv 2.1.0 is built from its source archive with CPU ops only
# (`setup.py build_ext --inplace`, which needs no `wheel` package), GPU hidden so
# that nvcc is never used. A .pth file in the venv's site-packages (Python's own
# way to add a folder) makes that source tree and this checkout importable. mmcv's
# compiled ops are not used by any measurement (GPU NMS is a torchvision stand-in
# on both sides): if the build fails or outruns MMCV_BUILD_LIMIT_S, a stub mmcv._ext
# is put in its place and the JSON says so (install.mmcv_ops).
#
# Writes $OUT/gpu_suite.json (rewritten after every step), $OUT/gpu_suite.log
# and, on the GPU machine, $OUT/mmcv_build_tail.log. Extra arguments go to the
# driver: python tools/benchmark.py gpu-suite --help.
#
# Environment: OUT (default outputs/gpu_suite), SUITE_BUDGET_S (whole command,
# default 480), MMCV_OPS (build | stub, default build), MMCV_BUILD_LIMIT_S
# (default 240), PYTHON (default python3; .venv/bin/python in the dry run),
# VENV (default /tmp/gpu_suite_venv), WHEELS (default .gpu), MMCV_SRC (default
# /tmp/mmcv-2.1.0).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT" || exit 1
START=$(date +%s)
export PYTHONUNBUFFERED=1
DRY=0
for arg in "$@"; do [[ "$arg" == "--dry-run" ]] && DRY=1; done
OUT="${OUT:-$ROOT/outputs/gpu_suite}"
BUDGET="${SUITE_BUDGET_S:-480}"
mkdir -p "$OUT"
LOG="$OUT/gpu_suite.log"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
INSTALL_JSON="$(mktemp "${TMPDIR:-/tmp}/gpu_suite_install.XXXXXX.json")"
trap 'rm -f "$INSTALL_JSON"' EXIT
log() { printf '[gpu_suite %4ss] %s\n' "$(($(date +%s) - START))" "$*"; }

if [[ "$DRY" == 1 ]]; then
  PY="${PYTHON:-$ROOT/.venv/bin/python}"
  log "dry run: $PY, no install step"
  printf '{"dry_run": true, "mmcv_ops": "installed environment"}\n' > "$INSTALL_JSON"
else
  PY="${PYTHON:-python3}"
  VENV="${VENV:-${TMPDIR:-/tmp}/gpu_suite_venv}"
  MMCV_SRC="${MMCV_SRC:-${TMPDIR:-/tmp}/mmcv-2.1.0}"
  MMCV_OPS="${MMCV_OPS:-build}"
  nproc_="$(nproc)"
  WHEELS="${WHEELS:-.gpu}"
  shopt -s nullglob
  wheels=("$WHEELS"/*.whl)
  if [[ ${#wheels[@]} -eq 0 || ! -f "$WHEELS/mmcv-2.1.0.tar.gz" ]]; then
    log "error: .gpu/ lacks the wheels or mmcv-2.1.0.tar.gz (cp ../shared/wheels/cp312/* .gpu/; carry [\".gpu\"])"
    exit 2
  fi
  log "python: $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)')"
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv --system-site-packages --without-pip "$VENV" || {
    log "error: $PY -m venv $VENV failed"
    exit 3
  }
  # The system's pip, run by the venv's python, installs into the venv.
  pip=("$VENV/bin/python" -m pip)
  "${pip[@]}" --version > /dev/null 2>&1 || pip=("$PY" -m pip --python "$VENV/bin/python")
  "${pip[@]}" install -q --upgrade --no-index --no-deps "${wheels[@]}" || {
    log "error: pip install of .gpu/*.whl failed"
    exit 3
  }
  PY="$VENV/bin/python"
  log "wheels installed in $VENV: $(cd "$WHEELS" && ls *.whl | tr '\n' ' ')"

  build_rc=skipped
  build_s=0
  if compgen -G "$MMCV_SRC/mmcv/_ext*.so" > /dev/null; then
    build_rc=reused
    log "mmcv: reusing the ops built by an earlier run in $MMCV_SRC"
  else
    rm -rf "$MMCV_SRC" && mkdir -p "$MMCV_SRC"
    tar xzf "$WHEELS/mmcv-2.1.0.tar.gz" -C "$MMCV_SRC" --strip-components=1
  fi
  if [[ "$MMCV_OPS" == build && "$build_rc" == skipped ]]; then
    log "building mmcv 2.1.0 CPU ops (MAX_JOBS=$nproc_, limit ${MMCV_BUILD_LIMIT_S:-240} s; ninja: $("$PY" -c 'import ninja' 2>/dev/null && echo yes || (command -v ninja >/dev/null && echo yes) || echo 'NO: serial build'))"
    t0=$(date +%s)
    (
      cd "$MMCV_SRC" &&
        CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 MAX_JOBS="$nproc_" \
          timeout -k 10 "${MMCV_BUILD_LIMIT_S:-240}" "$PY" setup.py build_ext --inplace
    ) > /tmp/mmcv_build.log 2>&1
    build_rc=$?
    build_s=$(($(date +%s) - t0))
    tail -n 150 /tmp/mmcv_build.log > "$OUT/mmcv_build_tail.log"
    log "mmcv build: rc=$build_rc in ${build_s} s (tail in mmcv_build_tail.log)"
  fi
  if compgen -G "$MMCV_SRC/mmcv/_ext*.so" > /dev/null; then
    mmcv_ops=compiled
  else
    mmcv_ops=stub
    log "mmcv without compiled ops: stub mmcv._ext (no measurement uses an mmcv op)"
    cat > "$MMCV_SRC/mmcv/_ext.py" << 'EOF'
"""Stand-in for mmcv's compiled ops (tools/benchmarks/gpu_suite.sh): none is used."""

MMCV_OPS_STUB = True


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)

    def missing(*args, **kwargs):
        raise RuntimeError(f'mmcv._ext.{name}: mmcv was set up without compiled ops')

    return missing
EOF
  fi
  site_packages="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  # The base python's site-packages too: where it is itself a venv (the GPU machine's
  # python3 is /opt/torch/.venv), its packages (numpy, torch) are not among those that
  # --system-site-packages adds, which are its interpreter's (seen on the first GPU run).
  { printf '%s\n' "$MMCV_SRC" "$ROOT"; "${PYTHON:-python3}" -c 'import site; print("\n".join(site.getsitepackages()))'; } \
    > "$site_packages/ssd_plugin_gpu_suite.pth"
  printf '{"dry_run": false, "mmcv_ops": "%s", "mmcv_build_rc": "%s", "mmcv_build_s": %s, "install_s": %s}\n' \
    "$mmcv_ops" "$build_rc" "$build_s" "$(($(date +%s) - START))" > "$INSTALL_JSON"
  "$PY" -c 'import mmcv, mmcv.ops, mmengine, mmdet, ssd_plugin; print("imports ok: mmcv", mmcv.__version__, "mmengine", mmengine.__version__, "mmdet", mmdet.__version__)' || {
    log "error: the OpenMMLab imports fail (see above)"
    exit 4
  }
fi

remaining=$((BUDGET - ($(date +%s) - START) - 10))
if [[ "$DRY" == 1 && -z "${SUITE_BUDGET_S:-}" ]]; then remaining=1200; fi
if ((remaining < 60)); then remaining=60; fi  # env and sync at least
log "driver: budget ${remaining} s"
"$PY" tools/benchmark.py gpu-suite --out "$OUT/gpu_suite.json" --budget-s "$remaining" \
  --install-json "$INSTALL_JSON" "$@"
rc=$?
log "done: rc=$rc, results in $OUT/gpu_suite.json"
exec 1>&- 2>&-
wait "$TEE_PID" 2>/dev/null
exit $rc
