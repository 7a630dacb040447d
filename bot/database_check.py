"""Opening the configured database with one clear line when it cannot be reached.

Every entry point (``affbot run``, ``deliver``, ``console``, ``export``, ``import``,
``db upgrade``) opens the database through :func:`open_database`, so a closed port, a
missing database, a refused login or a SQLite path in a folder that does not exist is
reported the same way: what failed, the URL without its password, and the key to check,
with a non-zero exit and no traceback. Errors after the first successful connection
(a failing migration, a lost server) are not start-up mistakes and keep their traceback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from storage import Database

_CHECK = "check database.url or AFFBOT_DATABASE__URL"
_SQLITE_THREAD_GRACE = 0.1


class DatabaseUnavailable(OSError):
    """The configured database cannot be opened; the text is one line for the operator."""


async def open_database(url: str, *, schema: str | None = None) -> Database:
    """Connect and check that the database answers; the caller closes it.

    Raises:
        DatabaseUnavailable: the URL is malformed or the database cannot be reached.
    """
    try:
        database = Database.connect(url, schema=schema)
    except ArgumentError as error:
        raise DatabaseUnavailable(f"database: the URL is not usable: {error} ({_CHECK})") from None
    folder = _sqlite_folder(url)
    if folder is not None and not folder.is_dir():
        await database.close()
        raise DatabaseUnavailable(
            f"database: cannot open {shown_url(url)}: the folder {folder} does not exist "
            f"({_CHECK})"
        )
    try:
        await database.ping()
    except (DBAPIError, OSError) as error:
        await database.close()
        if folder is not None:
            # aiosqlite answers a failed open by queueing its thread's stop without waiting
            # for it; let the thread finish before the loop closes, or it dies noisily.
            await asyncio.sleep(_SQLITE_THREAD_GRACE)
        raise DatabaseUnavailable(
            f"database: cannot connect to {shown_url(url)}: {_reason(error)} ({_CHECK})"
        ) from None
    return database


def _sqlite_folder(url: str) -> Path | None:
    """The folder a SQLite file database lives in (``None`` for other engines)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in {None, "", ":memory:"}:
        return None
    return Path(str(parsed.database)).absolute().parent


def shown_url(url: str) -> str:
    """The URL as it may be printed: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the configured URL"


def _reason(error: BaseException) -> str:
    original = error.orig if isinstance(error, DBAPIError) else error
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    if "unable to open database file" in text:
        text += " (may this user write there?)"
    return text or type(original).__name__
