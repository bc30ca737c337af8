"""A package's public names loaded on first use (PEP 562), so that importing one light module
of the package does not import the heavy ones beside it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]], namespace: dict[str, Any]
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """(``__all__``, ``__getattr__``, ``__dir__``) of ``package`` whose public names are
    ``exports`` (module -> names); a name is imported from its module on first use and kept in
    the package's ``namespace`` (its ``globals()``)."""
    home = {name: module for module, names in exports.items() for name in names}

    def getattr_(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home[name]}"), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *home})

    return sorted(home), getattr_, dir_
