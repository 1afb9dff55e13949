"""Jupyter widgets of spectuner_nb: thin ipywidgets + Bokeh adapters over the engine."""
