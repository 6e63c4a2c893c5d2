"""A package's public names, imported from their private modules on first use.

Every ``distser COMMAND --help`` must answer in well under a second, so a package's ``__init__`` may not
pull in torch, Ray, MLflow, scipy or matplotlib just because one of its names needs them: it lists
where each name lives and :func:`lazy_exports` imports that module when the name is first read
(PEP 562). ``from distser.search import run_search`` and ``distser.search.run_search`` work as before.

Example:
    >>> getattr_, dir_, all_ = lazy_exports("distser", {".define": ("EXPERIMENT",)})
    >>> getattr_("EXPERIMENT"), all_
    ('distser', ['EXPERIMENT'])
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` whose ``exports`` map a module to its names.

    Modules are relative to the package (``"._cli"``); a name read once is cached in the package.
    """
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *home})

    return __getattr__, __dir__, sorted(home)
