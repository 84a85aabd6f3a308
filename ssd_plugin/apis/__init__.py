"""The tool layer: what ``tools/*`` scripts share (as mmdet's and mmyolo's ``apis``).

Nothing here is imported by ``import ssd_plugin``, and this ``__init__`` imports
nothing either: each tool imports the submodules it needs, so that a tool pays
only for its own imports. One concern a module:

* running a tool: ``tool_args`` (the shared arguments), ``tool_config`` (the one
  config loader), ``tool_runner`` (errors to exit status 2);
* checks before a run: ``check_run`` over ``dataset_checks``, ``weight_checks``
  and ``resume_checks`` (``run_check_error`` holds their error);
* the machine: ``device`` (CPU-only adjustments), ``distributed`` (CPU process
  groups), ``amp`` (``--amp``);
* inference: ``inference`` (mmdet's ``DetInferencer``); ``onnx_export`` (ONNX export
  and its check), ``onnxruntime_detector`` (an exported model as an mmengine model,
  ``--backend onnxruntime``);
* analysis: ``mmdet_analysis_tool`` (mmdet's analysis tools on plugin configs).

What only some tools use lives beside them instead: the generated dataset
(``tools/synthetic_data/``), the demo and its time budget (``tools/ssd_demo/``), the
benchmark harness (``tools/benchmarks/``), the default-box analysis
(``tools/analysis_tools/default_box_analysis/``).
"""

__all__ = [
    'amp',
    'check_run',
    'dataset_checks',
    'device',
    'distributed',
    'inference',
    'mmdet_analysis_tool',
    'onnx_export',
    'onnxruntime_detector',
    'resume_checks',
    'run_check_error',
    'tool_args',
    'tool_config',
    'tool_runner',
    'weight_checks',
]
