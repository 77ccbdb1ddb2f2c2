"""`agi:` in router.yaml: the FastAGI server for lines in `mode: agi` (docs/agi-mode.md)."""

from __future__ import annotations

from pathlib import Path
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
    # Follow the decided calls through app_queue over AMI (journeys, misses, callbacks).
    ami: StrictBool = True
    ami_host: Text = "127.0.0.1"
    ami_port: Annotated[StrictInt, Field(ge=1, le=65535)] = 5038
    ami_username: Text = "clinic-router"
    # The AMI secret's environment variable; unset or empty: the ARI password (one
    # account for both, as `asterisk-config` creates it)
    ami_secret_env: Text = "CLINIC_ROUTER_AMI_SECRET"
    # Asterisk's config folder on this host: the router writes the AGI-mode queues and
    # their relaxation rules there (clinic-router-agi-queues.conf, -queuerules.conf) at
    # start and on every rules reload, then reloads app_queue over AMI. Unset: an admin
    # writes them (docs/agi-mode.md).
    queues_dir: Path | None = None
