"""The tool layer: what ``tools/*`` scripts share (as mmdet's and mmyolo's ``apis``).

Nothing here is imported by ``import ssd_plugin``, and this ``__init__`` imports
nothing either: each tool imports the modules it needs (one concern a module,
listed in ``docs/architecture.md``), so that a tool pays only for its own imports.
What only some tools use lives beside them instead (``tools/synthetic_data/``,
``tools/ssd_demo/``, ``tools/benchmarks/``,
``tools/analysis_tools/default_box_analysis/``).
"""
