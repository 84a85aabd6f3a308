"""Engine components (hooks) of the plugin."""

__all__: list = []
