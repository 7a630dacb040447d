"""Reporting: the numbers people read, computed once for every place that shows them.

Owns leaderboards (``leaderboard``) and archived seasons (``seasons``), targets and the
progress toward them (``targets``), what is owed (``payouts``), the daily chart
(``chart``), the tables of ``affbot export`` (``export``), and /stats, /earnings,
/leaderboard, /report, /target, /payouts and /payout mark (``handlers``). Broadcasts use
the exports here so a post shows what the command shows.
"""

from commands.reporting.chart import daily_bars
from commands.reporting.leaderboard import TOP, board, public_name
from commands.reporting.seasons import render_season, season_label
from commands.reporting.targets import progress_lines

__all__ = [
    "TOP",
    "board",
    "daily_bars",
    "progress_lines",
    "public_name",
    "render_season",
    "season_label",
]
