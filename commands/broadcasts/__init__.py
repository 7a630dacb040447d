"""Broadcasts: what the bot posts and sends without being asked, on command or schedule.

Owns /announce (``handlers.announce``), schedules and /schedule add|list|remove
(``handlers.schedule``, ``cron``), running one due schedule atomically
(``schedule_runs``), the weekly leaderboard post (``weekly_post``), private weekly
feedback (``feedback``) and /delivery (``handlers.delivery_status``). Everything here
goes out through the outbox; ``bot`` delivers it and fires the schedules.
"""
