"""The platform-neutral core: commands, their rules, and the neutral replies they return.

Nothing here imports a chat platform library or the ``bot`` runtime; adapters translate
platform events into an ``Invocation`` and render the ``Reply`` objects that come back.
"""
