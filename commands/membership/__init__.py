"""Membership: who is in a program, and how each person appears and is reached.

Owns /join (``handlers.join``); the manager decisions /affiliates, /approve, /reject,
/suspend and /reinstate (``handlers.admin``); /connect, one affiliate on several
platforms (``handlers.connect``); and /settings (``handlers.settings``). It exports
nothing: other features read affiliates from storage.
"""
