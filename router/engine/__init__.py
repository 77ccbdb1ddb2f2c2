"""The live call engine: one coroutine and one event queue per call."""
