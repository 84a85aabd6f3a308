"""The demo of ``tools/demo.py``, beside it (Python searches a script's own folder first).

``demo`` runs its steps (and registers ``DemoValMetricsHook``, which hands the final
validation of the training processes back); ``demo_report`` draws the loss curve and
prints the results block; ``time_budget_plan`` fits the epochs to a time budget, and
``time_budget_hook`` registers ``TimeBudgetHook``, which does it inside the training.
The training processes run ``tools/train.py`` and import these modules through the
config's ``custom_imports`` (as ``ssd_demo.<module>``). This ``__init__`` imports
nothing, so that they load only what they need.
"""
