"""Programs: what affiliates can promote, and the manager commands that shape them.

Owns /programs and /program add (``handlers.listing``), /program edit|pause|resume
(``handlers.edit``), /program set and /program postback (``handlers.settings``),
/commission (``handlers.commission``) and /materials (``handlers.materials``). It exports
nothing: other features read programs from storage.
"""
