"""Counted words and finished sentences: the one place messages choose a plural form.

Every message that puts a number before a noun goes through :func:`plural`, shaped like
gettext's ``ngettext``: the call site writes both whole forms (the number's place marked
``{n}``), so a later translation can pick among its own language's plural forms and move
the number where its grammar wants it, without any call site changing shape.
"""

from __future__ import annotations

_SENTENCE_ENDS = (".", "!", "?", "…")


def plural(count: int, one: str, other: str, **values: object) -> str:
    """The form of a counted message that fits ``count``, with its values filled in.

    Write whole sentences as the forms, not fragments glued together, so a translator sees
    the full message (gettext's rule; ``ngettext(one, other, count) % values`` later).

    Args:
        count: how many; shown as ``{n}`` with thousands separators (``1,250``).
        one: the form for exactly one, like ``"Announced to {n} affiliate."``.
        other: the form for any other count, zero included.
        values: the message's other ``{name}`` placeholders.

    Returns:
        ``plural(1, "{n} affiliate", "{n} affiliates")`` is ``"1 affiliate"``;
        with 1250 it is ``"1,250 affiliates"``.
    """
    form = one if count == 1 else other
    return form.format(n=f"{count:,}", **values)


def sentence(text: str) -> str:
    """``text`` ending as a sentence: a full stop added unless it already ends in one.

    For user-supplied text (a suspension reason, a note) placed before another sentence,
    so "Reason: fraud" never runs into "You can still see …".
    """
    stripped = text.rstrip()
    return stripped if stripped.endswith(_SENTENCE_ENDS) else f"{stripped}."
