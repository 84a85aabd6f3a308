import os.path as osp
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from ssd_plugin.utils import version_guard

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_installed_versions_pass():
    version_guard.check_dependencies()


@pytest.mark.parametrize(
    'name,version,match',
    [
        ('mmcv', '2.2.0', r'mmcv==2.2.0 found, need >=2.0.0rc4,<2.2.0; .*mim install mmcv==2.1.0'),
        ('mmdet', '2.28.2', r'mmdet==2.28.2 found, need >=3.0.0,<4.0.0'),
        ('mmengine', None, r'mmengine is not installed; pip install'),
    ],
)
def test_wrong_versions_name_the_fix(monkeypatch, name, version, match):
    real = metadata.version

    def fake(pkg):
        if pkg == name:
            if version is None:
                raise metadata.PackageNotFoundError(pkg)
            return version
        return real(pkg)

    monkeypatch.setattr(version_guard.metadata, 'version', fake)
    with pytest.raises(ImportError, match=match):
        version_guard.check_dependencies()


@pytest.mark.parametrize('missing', ['mmdet', 'torch'])
def test_import_with_a_package_missing_raises_the_guards_message(tmp_path, missing):
    """A fresh interpreter that cannot see ``missing`` gets the guard's ImportError.

    A meta-path finder hides the module and its distribution metadata, as if
    it were not installed; nothing of torch, mmengine, mmcv or mmdet may be
    imported before the guard speaks.
    """
    script = tmp_path / 'hide.py'
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from importlib import metadata

            HIDDEN = {missing!r}

            class Hide:
                def find_spec(self, name, path=None, target=None):
                    if name == HIDDEN or name.startswith(HIDDEN + '.'):
                        raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)
                    return None

            sys.meta_path.insert(0, Hide())
            real = metadata.version

            def version(name):
                if name == HIDDEN:
                    raise metadata.PackageNotFoundError(name)
                return real(name)

            metadata.version = version
            try:
                import ssd_plugin  # noqa: F401
            except ImportError as err:
                heavy = [m for m in ('torch', 'mmengine', 'mmcv', 'mmdet') if m in sys.modules]
                print('IMPORTERROR', type(err).__name__, err, 'HEAVY', heavy)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert 'IMPORTERROR ImportError ssd_plugin cannot be imported' in out.stdout, out
    assert f'{missing} is not installed; pip install' in out.stdout
    assert out.stdout.rstrip().endswith('HEAVY []'), out.stdout
