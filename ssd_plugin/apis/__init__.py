"""Tool layer: the computations behind ``tools/`` scripts.

Nothing here is imported by ``import ssd_plugin``; the tools import the
submodules they need (e.g. :mod:`ssd_plugin.apis.default_boxes`).
"""

__all__ = ['default_boxes']
