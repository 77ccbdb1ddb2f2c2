"""Calling patients back: the dispatcher (`dispatch.py`) claims due tasks and gives each
a place in the waiting room; one attempt (`attempt.py`) rings the operator the room
offers (the shared `engine/ring.py`), whispers who is called back, dials the patient
and bridges them; `attempt_state.py` holds the names and the outcome both use."""
