"""The tool layer: support code for ``tools/`` (not imported by ``import ssd_plugin``)."""

from .mmdet_analysis_tool import (
    MMDET_ANALYSIS_TOOLS,
    find_scalars_json,
    mmdet_tool_path,
    run_mmdet_tool,
)

__all__ = ['MMDET_ANALYSIS_TOOLS', 'find_scalars_json', 'mmdet_tool_path', 'run_mmdet_tool']
