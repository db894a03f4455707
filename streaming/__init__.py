"""Streaming inference: event sources, incremental windowing, inference sessions and sinks.

Kept light: import submodules (``neuromoco.streaming.sources`` ...) explicitly.
"""
