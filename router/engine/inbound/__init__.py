"""One inbound call: the coroutine in `call.py` and the parts it has.

- `walk.py`      the walk through the line's routes (route lists, menus, queues, ends)
- `channel.py`   the caller's channel: its event queue, requests, journal
- `prompts.py`   what the caller hears (playbacks, a key asked for)
- `menu_keys.py` a menu played and the keys pressed (the answer comes from domain.menus)
- `identify.py`  who is calling (patient store, CRM, a shared phone's question)
- `bridge.py`    the call's bridge: hold with music, out of it, an operator joined
- `operators.py` the operators it rings (the shared `engine/ring.py`) and the talk
- `waiting.py`   waiting for an operator: the waiting-room seat, announcements, moves
- `keep_place.py` "keep my place, call me back" while waiting
- `endings.py`   messages, voicemail and "nobody can take your call"
"""
