from . import checkpoint_compat
from .setup_env import register_all_modules
from .version_guard import check_dependencies

checkpoint_compat.apply()

__all__ = ['checkpoint_compat', 'check_dependencies', 'register_all_modules']
