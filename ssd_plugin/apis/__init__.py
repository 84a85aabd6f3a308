"""The tool layer: what ``tools/*`` scripts share (as mmdet's and mmyolo's ``apis``).

Nothing here is imported by ``import ssd_plugin``, and this ``__init__`` imports
nothing either: each tool imports the submodules it needs, so that a tool pays
only for its own imports.

Submodules: ``default_boxes`` (coverage analysis and fitting of default boxes),
``inference`` (``tools/infer.py`` and the demo's drawing) over
``safe_det_inferencer`` (mmdet's inferencer keeping the config's image loader),
``onnx_export`` (ONNX export and its check, ``tools/export_onnx.py``),
``onnxruntime_detector`` (an exported model as an mmengine model, ``--backend
onnxruntime``), ``time_budget_plan`` (the demo's epochs for a time budget) and
``mmdet_analysis_tool`` (mmdet's analysis tools on plugin configs).
"""

__all__ = [
    'default_boxes',
    'inference',
    'mmdet_analysis_tool',
    'onnx_export',
    'onnxruntime_detector',
    'safe_det_inferencer',
    'time_budget_plan',
]
