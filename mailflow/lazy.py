"""Libraries loaded at their first use, not when the module that names them is imported.

A few libraries take several MB that most processes never need (spreadsheets, charts,
calendar invitations, the IMAP client: #21 keeps ``mailflow run`` idle under 120 MB). Instead of
an ``import`` hidden inside each function, a module names them once at its top with
:class:`LazyModule`; the first attribute read imports the module (``importlib``'s import lock
makes that safe from any thread)."""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """Stands for the module ``name`` and imports it at the first attribute read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str):
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
