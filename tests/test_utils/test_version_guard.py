from importlib import metadata

import pytest

from ssd_plugin.utils import version_guard


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
