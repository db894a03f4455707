"""Build scripts of a source checkout (not installed with the package): ``python -m tools.<name>``.

* :mod:`tools.build_bundled` — rebuilds the bundled models (``gesture-demo``, ``neuromoco-ssl``)
  from ``recipes/``.
"""
