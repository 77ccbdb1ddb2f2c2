"""A fake Asterisk for the engine tier: ARI REST and events in Asterisk 22's recorded JSON."""

from tests.fakeari.server import FakeAsterisk

__all__ = ["FakeAsterisk"]
