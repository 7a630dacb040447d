"""A small PNG bar chart of daily clicks and conversions, drawn without a plotting library.

Feedback goes to thousands of affiliates every week; a 7-day bar chart does not justify
matplotlib or Pillow (tens of megabytes, slow imports). PNG is simple enough to write by
hand: an indexed-colour image, rows of palette indexes, zlib-compressed (about 1 KB).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

_BACKGROUND, _AXIS, _CLICKS, _CONVERSIONS = 0, 1, 2, 3
_PALETTE = bytes(
    [
        *(255, 255, 255),  # background
        *(160, 160, 160),  # axis
        *(158, 202, 225),  # clicks: light blue
        *(33, 113, 181),  # conversions: dark blue
    ]
)
_DAY_WIDTH = 36
_BAR_WIDTH = 14
_HEIGHT = 100
_MARGIN = 8


def daily_bars(series: Sequence[tuple[int, int]]) -> bytes:
    """A PNG with one pair of bars per day: clicks (light) and conversions (dark).

    Each series is scaled to its own maximum so a day's conversions stay visible next to
    hundreds of clicks; the reply's text carries the exact numbers.
    """
    days = max(1, len(series))
    width = _MARGIN * 2 + days * _DAY_WIDTH
    height = _HEIGHT + _MARGIN * 2
    pixels = [bytearray(width) for _ in range(height)]
    baseline = _MARGIN + _HEIGHT
    most_clicks = max((clicks for clicks, _ in series), default=0) or 1
    most_conversions = max((conversions for _, conversions in series), default=0) or 1
    for day, (clicks, conversions) in enumerate(series):
        left = _MARGIN + day * _DAY_WIDTH + (_DAY_WIDTH - 2 * _BAR_WIDTH) // 2
        _bar(pixels, left, baseline, _scaled(clicks, most_clicks), _CLICKS)
        _bar(
            pixels,
            left + _BAR_WIDTH,
            baseline,
            _scaled(conversions, most_conversions),
            _CONVERSIONS,
        )
    for x in range(_MARGIN, width - _MARGIN):
        pixels[baseline][x] = _AXIS
    return _png(width, height, pixels)


def _scaled(value: int, maximum: int) -> int:
    if value <= 0:
        return 0
    return max(2, round(value / maximum * _HEIGHT))  # a non-zero day is never invisible


def _bar(pixels: list[bytearray], left: int, baseline: int, height: int, colour: int) -> None:
    for y in range(baseline - height, baseline):
        pixels[y][left : left + _BAR_WIDTH - 2] = bytes([colour]) * (_BAR_WIDTH - 2)


def _png(width: int, height: int, pixels: list[bytearray]) -> bytes:
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit indexed colour
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", _PALETTE)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
