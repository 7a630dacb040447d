"""The one rule for outside text: what passes or is cleaned can always be stored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.core.text import checked, cleaned, problem

# Any str Python can hold, lone surrogates included (what surrogateescape and JSON make).
ANY_TEXT = st.text(alphabet=st.characters(), max_size=300)


@given(value=ANY_TEXT, limit=st.integers(0, 200))
def test_cleaned_text_always_encodes_and_fits(value: str, limit: int) -> None:
    result = cleaned(value, limit)
    result.encode("utf-8")  # no lone surrogate survives
    assert "\x00" not in result
    assert len(result) <= limit
    assert all(char.isprintable() or char.isspace() for char in result if char.isascii())


@given(value=ANY_TEXT, limit=st.integers(0, 200))
def test_text_without_a_problem_is_storable(value: str, limit: int) -> None:
    if problem(value, limit) is None:
        value.encode("utf-8")
        assert "\x00" not in value
        assert len(value) <= limit


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("sh\x00op", "contains control characters"),
        ("\udcff\udcfe", "is not valid UTF-8 text"),
        ("\ud800", "is not valid UTF-8 text"),
        ("x" * 33, "is longer than 32 characters"),
    ],
)
def test_problems_name_what_is_wrong(value: str, reason: str) -> None:
    assert problem(value, 32) == reason
    with pytest.raises(ValueError, match=f"^program {reason}$"):
        checked("program", value, 32)


def test_allowed_controls_and_ordinary_names_pass() -> None:
    assert problem("line one\nline two\tend", 100, allow="\n\t") is None
    assert problem("Zoë 👩‍👩‍👧 \u200d", 100) is None  # format characters are not controls
    assert cleaned("  Ann\x00\udcff  ", 100) == "Ann"
