"""``import ssd_plugin`` registers components and loads no tool or test code."""

import json
import subprocess
import sys


def test_import_ssd_plugin_loads_no_tool_test_or_synthetic_data_module():
    code = (
        'import json, sys\n'
        'import ssd_plugin\n'
        'print(json.dumps(sorted(m for m in sys.modules if m.startswith("ssd_plugin.") and '
        '(m.startswith(("ssd_plugin.testing", "ssd_plugin.apis")) or "synthetic" in m))))\n'
    )
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
