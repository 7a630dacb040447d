"""Finding a program by the name someone typed, or telling them which ones exist.

Every command that takes a program looks it up the same way and, when the name is wrong,
answers with the same sentence: the name it did not find and the programs it could have
been, so the reader can correct a typo without a second command.
"""

from __future__ import annotations

from commands.core.errors import NotFound
from storage import Store
from storage.programs import Program

# Enough of a mistyped name to recognise it; the rest of a pasted paragraph is noise.
NAME_SHOWN = 40
# A long list of programs stops being a hint; the rest are one /programs away.
PROGRAMS_SHOWN = 10


async def program_named(store: Store, name: str, *, open_only: bool = False) -> Program:
    """The program whose slug is ``name``, in any letter case.

    Args:
        open_only: only active programs count (joining, materials); a paused one is
            answered as unknown, and the hint lists the open ones.

    Raises:
        NotFound: no such program; the sentence names it and lists the existing ones.
    """
    found = await store.programs.by_slug(name.lower())
    if found is not None and (not open_only or found.status == "active"):
        return found
    existing = await store.programs.list(status="active" if open_only else None)
    raise NotFound(unknown_program(name, [p.slug for p in existing], open_only=open_only))


def unknown_program(name: str, slugs: list[str], *, open_only: bool = False) -> str:
    """The one sentence for a program name that matches nothing.

    ``name`` is shown quoted and clamped (it may be anything a user typed); adapters
    escape it when they render.
    """
    kind = "open program" if open_only else "program"
    shown = name if len(name) <= NAME_SHOWN else name[: NAME_SHOWN - 1] + "…"
    if not slugs:
        return (
            f'There is no {kind} called "{shown}": there are no {kind}s yet; '
            "a manager adds one with /program add."
        )
    listed = ", ".join(slugs[:PROGRAMS_SHOWN])
    more = len(slugs) - PROGRAMS_SHOWN
    if more > 0:
        listed += f" and {more} more (see /programs)"
    return f'There is no {kind} called "{shown}". {kind.capitalize()}s: {listed}.'
