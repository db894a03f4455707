"""Lazy package exports: ``from pkg import Name`` imports only the submodule defining ``Name``.

Keeps package ``__init__`` files light (no torch/Qt at import time) while offering a flat API.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose ``exports`` map names to submodules.

    A resolved name is cached in ``namespace`` (the package's ``globals()``), so the submodule is
    looked up once.
    """

    def __getattr__(name: str):
        mod = exports.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{mod}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
