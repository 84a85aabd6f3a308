"""Test-wide setup: every registry filled, default scope ``ssd_plugin``."""

import pytest
import torch


@pytest.fixture(autouse=True, scope='session')
def _register_modules():
    from ssd_plugin import register_all_modules

    register_all_modules(init_default_scope=True)
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _plugin_scope_after_each_test():
    """A test that builds a Runner leaves its config's default scope current (mmengine
    keeps the newest DefaultScope); the next test gets ``ssd_plugin`` back."""
    yield
    import time

    from mmengine.registry import DefaultScope

    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'ssd_plugin':
        DefaultScope.get_instance(f'ssd_plugin-test-{time.time()}', scope_name='ssd_plugin')
