# Sourced by the launcher scripts: sets TOOLS (this folder) and PYTHON.
# Without PYTHON: the project's .venv (tools/setup_env.sh) unless an environment is
# activated; a plain shell's `python` usually has no torch. Either has the project
# installed (`pip install -e .`), so the tools import ssd_plugin from any folder.
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ] && [ -x "$TOOLS/../.venv/bin/python" ]; then
        PYTHON="$TOOLS/../.venv/bin/python"
    else
        PYTHON=python
    fi
fi
