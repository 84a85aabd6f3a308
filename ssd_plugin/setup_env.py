"""``register_all_modules``, mirroring mmdet's helper.

It sits at the top of the package, not in ``utils/`` (the bottom layer, which
imports nothing above it): importing it runs ``ssd_plugin/__init__``, which
registers every plugin component.
"""

import datetime
import warnings


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import the plugin's and mmdet's modules so every registry is filled.

    Works like :func:`mmdet.utils.register_all_modules`, with scope
    ``ssd_plugin``.

    Args:
        init_default_scope: If True, make ``ssd_plugin`` the default scope,
            so plain names resolve to plugin components first and mmdet's are
            reachable as ``mmdet.X``.
    """
    import mmdet.utils
    from mmengine import DefaultScope

    from .registry import SCOPE  # the plugin's components: registered by ssd_plugin/__init__

    mmdet.utils.register_all_modules(init_default_scope=False)
    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created(SCOPE):
        DefaultScope.get_instance(SCOPE, scope_name=SCOPE)
        return
    if current.scope_name != SCOPE:
        warnings.warn(
            f'The current default scope "{current.scope_name}" is not "{SCOPE}"; '
            f'`register_all_modules` switches it to "{SCOPE}". Pass '
            '`init_default_scope=False` if this is not expected.',
            stacklevel=2,
        )
        DefaultScope.get_instance(f'{SCOPE}-{datetime.datetime.now()}', scope_name=SCOPE)
