from .atomic_local_backend import AtomicLocalBackend, atomic_write_bytes, remove_stale_temp_files
from .checkpoint_integrity import checkpoint_problem, work_dir_checkpoints

__all__ = [
    'AtomicLocalBackend',
    'atomic_write_bytes',
    'checkpoint_problem',
    'remove_stale_temp_files',
    'work_dir_checkpoints',
]
