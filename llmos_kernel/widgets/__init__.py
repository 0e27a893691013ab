"""The memory-map panel and model switcher (ipywidgets): `show_panel(runtime)`, and `%panel` in magics.py.

view.py computes what is shown from a ContextWindow snapshot, markup.py turns it into HTML (also the static
fallback, `render_html`), panel.py holds the live widgets. Nothing here calls a backend: the panel reads the
runtime's snapshot and acts through `runtime.memory_action` and `runtime.switch_model`.
"""
