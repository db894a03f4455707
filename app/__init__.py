"""The Qt app (``neuromoco-app``). Kept light: the GUI lives in submodules."""

PROG = "neuromoco-app"
"""The program's name, in its messages and ``--help``."""
