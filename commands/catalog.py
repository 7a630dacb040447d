"""The registry every adapter serves; handler modules register on it when loaded."""

from __future__ import annotations

import importlib

from commands.registry import Registry

registry = Registry()
command = registry.command

# Handler modules, in the order /help lists their commands' topics.
_MODULES = (
    "help",
    "programs",
    "program_admin",
    "membership",
    "links",
    "stats",
    "leaderboard",
    "earnings",
    "rewards",
    "reward_admin",
    "reward_roles",
    "materials",
    "connect",
    "settings",
    "commission",
    "targets",
    "announce",
    "membership_admin",
    "report",
    "payouts",
    "program_settings",
    "cap_settings",
    "schedule",
    "delivery_status",
    "fraud",
)


def load() -> Registry:
    """Import every handler module (registering its commands) and return the registry."""
    for name in _MODULES:
        importlib.import_module(f"commands.{name}")
    return registry
