"""``import ssd_plugin`` registers components and loads no tool, demo, benchmark or test code."""

import json
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / 'tools'


def test_import_ssd_plugin_loads_no_tool_demo_or_synthetic_data_module():
    code = (
        'import json, sys\n'
        'import ssd_plugin\n'
        'print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in '
        '("synthetic_data", "ssd_demo", "benchmarks", "tools") or (m.startswith("ssd_plugin.") '
        'and (m.startswith("ssd_plugin.apis") or "synthetic" in m or "demo" in m)))))\n'
    )
    # From tools/, where the packages beside the tools are importable, as in a tool.
    proc = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, timeout=120, cwd=TOOLS
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
