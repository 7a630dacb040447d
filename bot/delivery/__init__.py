"""Delivery: the outbox dispatcher, its pacing and retry rules, and their start/stop."""
