"""`agi:` in router.yaml: the FastAGI server for lines in `mode: agi` (docs/agi-mode.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from router.config.fields import Section, Text


class AgiSettings(Section):
    """Where the dialplan's `AGI(agi://HOST:PORT/route)` reaches the router."""

    enabled: StrictBool = False
    host: Text = "127.0.0.1"
    port: Annotated[StrictInt, Field(ge=0, le=65535)] = 4573
    # A connection that sends no complete AGI header in this time is closed (a bare
    # connect, a health check, a port scan).
    header_timeout_s: Annotated[StrictFloat, Field(gt=0, le=30)] = 2.0
