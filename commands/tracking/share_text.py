"""Filling a program's materials for one affiliate: the placeholders managers may write.

A manager writes sample posts (and guidelines) once for everyone; ``{link}`` and
``{program}`` in them are filled for whoever reads them, in /link's share text and in
/materials alike, so an affiliate can copy a post as it is. The text stays plain: the
adapters escape it when they render.
"""

from __future__ import annotations

import re

from storage.programs import Program

PLACEHOLDERS = ("{link}", "{program}")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def unknown_placeholders(text: str) -> list[str]:
    """Placeholder-looking words (``{name}``) that are not ones we fill, in order."""
    return [found for found in _PLACEHOLDER.findall(text) if found not in PLACEHOLDERS]


def known_placeholders_only(text: str) -> str:
    """``text`` back if it only uses known placeholders (a ``Param.parse``).

    Raises:
        ValueError: naming the unknown placeholder and the ones that work.
    """
    unknown = unknown_placeholders(text)
    if unknown:
        raise ValueError(
            f"Unknown placeholder {unknown[0]}: write {' or '.join(PLACEHOLDERS)}, "
            "which are filled in for each affiliate"
        )
    return text


def fill(text: str, program: Program, url: str | None) -> str:
    """``text`` with ``{link}`` (the affiliate's link, or where to get one when ``url`` is
    None) and ``{program}`` (the program's name) filled in; anything else is left as is."""
    link = url if url is not None else f"(your link: /link {program.slug})"
    values = {"{link}": link, "{program}": program.name}
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(0), match.group(0)), text)


def share_text(program: Program, url: str) -> str:
    """A post ready to paste: the program's first sample post when the manager wrote
    one (with its placeholders filled; the link added at the end unless the post placed
    it), else a plain invitation ending with the link."""
    posts = program.materials.get("posts")
    if isinstance(posts, list) and posts:
        post = str(posts[0])
        filled = fill(post, program, url).rstrip()
        return filled if "{link}" in post else f"{filled} {url}"
    return f"Check out {program.name}: {url}"
