"""The HTTP tracking server: referral redirects, click logging, postbacks, health, metrics.

Modules: ``server`` (the app and its lifecycle), ``redirects`` and ``routes`` (``/r/{code}``),
``click_buffer`` (batched click writes; ``click_sinks``, ``click_batches`` and the
``click_writer`` process write the batches), ``visitors`` (bots, browsers, hashed IPs),
``postbacks`` and ``postback_auth`` (``/postback``), ``metrics`` and ``pages``.
"""

from bot.web.server import SERVICES, build_web_app
from bot.web.state import TRACKING, TrackingState

__all__ = ["SERVICES", "TRACKING", "TrackingState", "build_web_app"]
