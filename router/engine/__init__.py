"""The live call engine: one coroutine and one event queue per call or callback attempt.

`engine.py` claims calls and routes events; `inbound/` is one inbound call and its parts;
`callbacks/` the callback dispatcher and attempt; `ring.py` and `offers.py` what both
use; `reconcile.py` carries out `domain/reconcile_plan.py` after every (re)connect.
Where each behaviour lives: docs/dev/engine-map.md.
"""
