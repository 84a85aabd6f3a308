from .atomic_local_backend import AtomicLocalBackend, atomic_write_bytes, remove_stale_temp_files

__all__ = ['AtomicLocalBackend', 'atomic_write_bytes', 'remove_stale_temp_files']
