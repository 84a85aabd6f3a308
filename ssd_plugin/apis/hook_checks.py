"""Hook checks: keys of ``default_hooks`` and ``custom_hooks`` that their hook does not take.

mmengine's ``CheckpointHook`` takes ``**kwargs`` and hands them to
``Runner.save_checkpoint`` at the first save, so a misspelled key
(``intervall=1``, ``max_keep_ckpt=1``) trains a whole interval and then fails
with ``TypeError: Runner.save_checkpoint() got an unexpected keyword
argument``, leaving no checkpoint. Other hooks fail when the Runner builds
them, with a bare ``TypeError``. This check names every such key, with the
closest accepted one, before anything is built.
"""

import inspect
from typing import Any, FrozenSet, Iterator, List, Optional, Tuple

from mmengine.hooks import CheckpointHook
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from ssd_plugin.registry import HOOKS, SCOPE
from ssd_plugin.utils.strict_args import unknown_keys_message

from ._config_walk import cfg_get

__all__ = ['hook_problems']

# What CheckpointHook passes to Runner.save_checkpoint itself; its **kwargs may add the rest.
_SAVE_ARGS_OF_HOOK = frozenset(
    ['self', 'out_dir', 'filename', 'file_client_args', 'save_optimizer', 'save_param_scheduler']
    + ['meta', 'by_epoch', 'backend_args']
)


def _named_params(func) -> FrozenSet[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(func).parameters.values()
    return frozenset(p.name for p in params if p.kind in kinds and p.name != 'self')


def _accepted_keys(cls: type) -> Optional[FrozenSet[str]]:
    """The config keys a hook class takes, or None when it takes any (``**kwargs``)."""
    params = inspect.signature(cls.__init__).parameters.values()
    keys = _named_params(cls.__init__) | {'type', 'priority', '_scope_'}  # popped by the Runner
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return keys
    if issubclass(cls, CheckpointHook):  # its **kwargs go to Runner.save_checkpoint
        return keys | (_named_params(Runner.save_checkpoint) - _SAVE_ARGS_OF_HOOK)
    return None


def _hook_cfgs(cfg: Any) -> Iterator[Tuple[str, Any]]:
    for name, hook in (cfg_get(cfg, 'default_hooks') or {}).items():
        yield f'default_hooks.{name}', hook
    for i, hook in enumerate(cfg_get(cfg, 'custom_hooks') or []):
        yield f'custom_hooks[{i}]', hook


def hook_problems(cfg: Any) -> List[str]:
    """One line per hook of ``default_hooks`` and ``custom_hooks`` given keys it
    does not take, with the closest accepted key and the accepted ones.

    Hooks whose type is not registered are left to the Runner's own error.
    """
    problems = []
    with DefaultScope.overwrite_default_scope(cfg_get(cfg, 'default_scope') or SCOPE):
        for where, hook in _hook_cfgs(cfg):
            if not hasattr(hook, 'items') or 'type' not in hook:
                continue
            kind, scope = hook['type'], hook.get('_scope_')  # _scope_: from a mmdet:: base
            if isinstance(kind, str) and scope and '.' not in kind:
                kind = f'{scope}.{kind}'
            cls = kind if isinstance(kind, type) else HOOKS.get(kind)
            accepted = _accepted_keys(cls) if isinstance(cls, type) else None
            if accepted is None:
                continue
            unknown = [key for key in hook if key not in accepted]
            if unknown:
                shown = accepted - {'type', '_scope_'}
                problems.append(unknown_keys_message(f'{where} ({cls.__name__})', unknown, shown))
    return problems
