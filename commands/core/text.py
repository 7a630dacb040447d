"""Text from outside: one rule for what may be stored, echoed or looked up.

Everything a person, a network or a visitor sends us arrives as ``str``, but not every
``str`` can be stored: aiohttp decodes non-UTF-8 header and path bytes with
``surrogateescape``, JSON may spell a lone surrogate (``"\\ud800"``), and PostgreSQL
refuses NUL in any text. A value that reaches a database driver in such a shape fails a
whole transaction (or a whole batch of clicks), far from where it came in. So every entry
point passes its text through one of the two functions here:

- :func:`problem` / :func:`checked` for values that *mean* something (a program name, a
  transaction id, a chat argument): a bad one is refused with a reason;
- :func:`cleaned` for values we only record or show (a referring host, a display name):
  they are repaired instead, because refusing a visitor over their browser's bytes would
  lose a real click.
"""

from __future__ import annotations

import unicodedata

# Categories no stored text may hold: control characters (NUL, escape, bidi controls are
# "Cf" and stay allowed: names legitimately contain zero-width joiners) and surrogates,
# which exist in a Python ``str`` only as the trace of bytes that were not UTF-8.
_FORBIDDEN = frozenset({"Cc", "Cs"})


def problem(value: str, limit: int, *, allow: str = "") -> str | None:
    """Why ``value`` cannot be taken as text of at most ``limit`` characters, or ``None``.

    ``allow`` lists control characters that are fine here (``"\\n\\t"`` for multi-line
    announcements). The length is checked first, so a huge value costs no scan.
    """
    if len(value) > limit:
        return f"is longer than {limit} characters"
    for char in value:
        if char in allow:
            continue
        category = unicodedata.category(char)
        if category == "Cs":
            return "is not valid UTF-8 text"
        if category == "Cc":
            return "contains control characters"
    return None


def checked(name: str, value: str, limit: int, *, allow: str = "") -> str:
    """``value`` unchanged when it is storable text, else ``ValueError`` naming ``name``."""
    reason = problem(value, limit, allow=allow)
    if reason is not None:
        raise ValueError(f"{name} {reason}")
    return value


def cleaned(value: str, limit: int) -> str:
    """``value`` made storable: surrogates and control characters dropped, then cut to
    ``limit`` characters and stripped of surrounding space."""
    if value.isascii() and value.isprintable() and len(value) <= limit:
        return value.strip()  # nearly every header: no per-character work
    kept = "".join(char for char in value if unicodedata.category(char) not in _FORBIDDEN)
    return kept[:limit].strip()
