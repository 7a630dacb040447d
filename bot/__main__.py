"""``python -m bot`` is the same as the ``affbot`` command."""

from bot.cli import main

raise SystemExit(main())
