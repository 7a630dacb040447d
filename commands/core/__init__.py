"""The kernel every feature builds on, and the one layer they all share.

Owns the command machinery (``registry`` specs and parser, ``catalog`` discovery,
``dispatcher`` as the one error boundary, ``invocation`` context, ``reply`` parts,
``errors``, ``validation``, ``cooldown`` per-user limits on the keyed ``token_bucket``)
and the vocabulary every feature speaks: exact ``money``, the ``calendar`` of days, weeks,
months and reporting periods, ``programs`` (finding a program by name, or saying which
exist), ``who`` (naming an affiliate) and ``notify`` (outbox messages to people and
announcement chats). Nothing here imports a feature package.
"""
