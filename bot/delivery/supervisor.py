"""``affbot run``'s side of ``affbot deliver``: start the child, restart it, stop it.

The child gets the parent's configuration as the first line on its stdin (see
:mod:`bot.delivery.standalone`), then ``wake`` lines when the scheduler queued messages.
It runs in a session of its own, so Ctrl-C in the terminal reaches only the parent, which
stops it at the right moment: after the scheduler (nothing queues any more), before the
chat adapters close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from bot.config import Config
from bot.delivery.standalone import config_line

log = logging.getLogger(__name__)

RESTART_FIRST = 1.0
RESTART_CAP = 60.0
HEALTHY_AFTER = 60.0  # a child that ran this long restarts after RESTART_FIRST again
STOP_TIMEOUT = 15.0
_WAKE_BACKLOG = 64  # bytes; a child that is not reading has enough wakes queued already


class DeliveryProcess:
    """A supervised ``affbot deliver --supervised`` child."""

    def __init__(
        self,
        config: Config,
        *,
        command: Sequence[str] | None = None,
        restart_first: float = RESTART_FIRST,
        restart_cap: float = RESTART_CAP,
        healthy_after: float = HEALTHY_AFTER,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self._config = config
        self._command = list(command or [sys.executable, "-m", "bot", "deliver", "--supervised"])
        self._restart_first = restart_first
        self._restart_cap = restart_cap
        self._healthy_after = healthy_after
        self._stop_timeout = stop_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The running child's process id (``None`` between restarts)."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def start(self) -> None:
        """Start the first child (a failure to spawn raises) and supervise it."""
        self._process = await self._spawn()
        self._task = asyncio.create_task(self._supervise(), name="delivery-process")

    def wake(self) -> None:
        """Messages were queued: tell the child. Never blocks; a dead child is ignored."""
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            return
        transport = process.stdin.transport
        if transport.is_closing() or transport.get_write_buffer_size() > _WAKE_BACKLOG:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            process.stdin.write(b"wake\n")

    async def stop(self) -> None:
        """SIGTERM the child and wait for its in-flight sends; SIGKILL after the timeout."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self._stop_timeout)
        except TimeoutError:
            log.warning(
                "the delivery process did not stop in %.0f s; killing it", self._stop_timeout
            )
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if process.stdin is not None:
            process.stdin.close()

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # terminal signals go to the parent, which stops us
        )
        if process.stdin is not None:  # always: stdin is a pipe
            process.stdin.write(config_line(self._config))
        log.info("delivery process started (pid %d)", process.pid)
        return process

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._restart_first
        started = loop.time()
        while True:
            process = self._process
            if process is not None:
                status = await process.wait()
                if self._stopping:
                    return
                if process.stdin is not None:
                    process.stdin.close()
                if loop.time() - started >= self._healthy_after:
                    delay = self._restart_first
                log.error(
                    "the delivery process exited unexpectedly (status %s); restarting in %g s",
                    status,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._restart_cap)
            started = loop.time()
            try:
                self._process = await self._spawn()
            except OSError as error:
                self._process = None
                log.error("cannot start the delivery process: %s", error)  # noqa: TRY400
