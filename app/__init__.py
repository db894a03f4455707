"""The Qt app (``neuromoco-app``). Kept light: the GUI lives in submodules."""
