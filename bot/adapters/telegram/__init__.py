"""The Telegram adapter (python-telegram-bot 22); the only package that imports telegram."""

import os

# PTB 22 reports durations (RetryAfter.retry_after) as timedelta when this is set and warns
# about the old int form otherwise; we read both, and opt in to the future behaviour.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.adapters.telegram.adapter import TelegramAdapter, TelegramStartError
from bot.adapters.telegram.webhook import register_webhook_routes

__all__ = ["TelegramAdapter", "TelegramStartError", "register_webhook_routes"]
