"""The registry every adapter serves, and finding the handler modules that fill it.

Handlers are found by where they live, not by a list to keep in step: every feature
package of ``commands`` keeps its commands in ``handlers.py`` or, when it has several,
in the modules of a ``handlers`` package. Importing such a module runs its ``@command``
decorators, which register the commands here. A new feature adds its package and is served
by every adapter with no other edit.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterator
from types import ModuleType

from commands.core.registry import Registry

registry = Registry()
command = registry.command

HANDLERS = "handlers"


def load() -> Registry:
    """Import every handler module (registering its commands) and return the registry."""
    for name in handler_modules():
        importlib.import_module(name)
    return registry


def handler_modules() -> Iterator[str]:
    """The dotted names of all handler modules, feature by feature in name order."""
    import commands

    for feature in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not feature.ispkg:
            continue
        name = f"commands.{feature.name}.{HANDLERS}"
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        if _is_package(module):
            for sub in sorted(pkgutil.iter_modules(module.__path__), key=lambda m: m.name):
                yield f"{name}.{sub.name}"
        else:
            yield name


def _is_package(module: ModuleType) -> bool:
    return hasattr(module, "__path__")
