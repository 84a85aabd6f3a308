#!/usr/bin/env bash
# Create (or reuse) the project environment in .venv at the repo root.
#
# Idempotent: a stamp file records the hash of everything that shapes the
# environment; when it matches, this script returns in well under a second.
# mmcv 2.1.0 has no PyPI wheel, so it is built from source once per machine
# (about 12 minutes on 2 cores) in a throwaway build venv and the wheel is
# cached in $SSD_PLUGIN_CACHE (default ~/.cache/ssd_plugin) for reuse.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3.11}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
MMCV_VERSION="2.1.0"
CACHE="${SSD_PLUGIN_CACHE:-$HOME/.cache/ssd_plugin}"
STAMP="$VENV/.ssd_plugin_stamp"

log() { printf '[setup_env] %s\n' "$*" >&2; }

command -v "$PYTHON" >/dev/null || {
  log "error: $PYTHON not found; set PYTHON=/path/to/python3.11 (3.8-3.11 are supported by mmcv 2.1.0)"
  exit 1
}

want_stamp="$( (echo "$TORCH_SPEC mmcv==$MMCV_VERSION"; cat "$ROOT/requirements.txt" "$ROOT/setup.py" "$0") | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" && -x "$VENV/bin/python" ]]; then
  exit 0
fi

# --- mmcv wheel: build once per machine, keyed by torch and python version.
py_tag="$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
wheel_dir="$CACHE/wheels/${TORCH_SPEC//[^A-Za-z0-9.]/_}-$py_tag"
mkdir -p "$wheel_dir"
mmcv_wheel="$(ls "$wheel_dir"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [[ -z "$mmcv_wheel" ]]; then
  log "building mmcv $MMCV_VERSION with compiled ops (once per machine, ~12 min on 2 cores)"
  build_venv="$(mktemp -d "${TMPDIR:-/tmp}/mmcv-build.XXXXXX")"
  trap 'rm -rf "$build_venv"' EXIT
  "$PYTHON" -m venv "$build_venv"
  "$build_venv/bin/pip" install -q "$TORCH_SPEC"
  "$build_venv/bin/pip" install -q "setuptools<70" wheel ninja
  (
    cd "$build_venv"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$build_venv/bin/pip" wheel \
      --no-build-isolation --no-deps -w "$build_venv/dist" "mmcv==$MMCV_VERSION"
  )
  # Move into place atomically so an interrupted build never leaves a bad wheel.
  built="$(ls "$build_venv"/dist/mmcv-*.whl)"
  cp "$built" "$wheel_dir/.tmp.whl" && mv "$wheel_dir/.tmp.whl" "$wheel_dir/$(basename "$built")"
  mmcv_wheel="$wheel_dir/$(basename "$built")"
  rm -rf "$build_venv"
  trap - EXIT
fi

# --- project venv.
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install -q)
"${pip[@]}" "$TORCH_SPEC"
"${pip[@]}" "$mmcv_wheel"
"${pip[@]}" -r "$ROOT/requirements.txt"
"${pip[@]}" --no-deps -e "$ROOT"
echo "$want_stamp" > "$STAMP"
log "environment ready: $VENV"
