"""Asterisk's own database (AstDB) through ARI, without ``live_dangerously``.

What Asterisk 22.10.1 allows over ARI (checked in the sandbox):
* ``GET /asterisk/variable`` evaluates no dialplan function: ``DB_KEYS(f)``, ``DB(f/k)``,
  even ``LEN(abc)`` read as ``""``.
* ``GET /channels/{id}/variable`` evaluates functions on that channel: ``DB_KEYS(f)``
  works; reading ``DB(f/k)`` or ``DB_DELETE(f/k)`` is refused (500 "Unable to read
  provided function"; Asterisk logs "Dangerous function DB read blocked").
* ``POST /asterisk/variable`` with the variable ``DB_DELETE(f/k)`` deletes the key (a
  write of DB_DELETE is allowed); writing ``DB(f/k)`` is blocked (still 204).

So what the router reads from AstDB has to be in the keys: ``keys`` lists them with
``DB_KEYS()`` on a short-lived Local channel that the dialplan context
``[clinic-router-astdb]`` keeps ringing, and ``delete`` writes ``DB_DELETE()``.
"""

from __future__ import annotations

import logging
import uuid

from router.ari.client import AriClient
from router.ari.errors import AriError, AriNotFound

log = logging.getLogger(__name__)

ASTDB_CONTEXT = "clinic-router-astdb"
_CHANNEL_TIMEOUT_S = 10  # the dialplan's Wait(10) ends it anyway


def split_keys(text: str) -> list[str]:
    """``DB_KEYS()``'s answer as keys: separated by ``,``; a ``,`` or ``\\`` inside a key
    comes escaped with ``\\``. A key containing ``/`` shows only up to it."""
    keys: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, ""))
        elif ch == ",":
            keys.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current or keys:
        keys.append("".join(current))
    return [key for key in keys if key]


async def keys(ari: AriClient, family: str, *, context: str = ASTDB_CONTEXT) -> list[str]:
    """The keys of ``family`` (sorted by Asterisk). Raises ``AriError``; ``AriNotFound``
    when the helper channel vanished at once (no ``[context]`` in the dialplan)."""
    channel_id = f"astdb-{uuid.uuid4().hex}"
    await ari.originate_to_dialplan(
        f"Local/s@{context}",
        context=context,
        extension="s",
        channel_id=channel_id,
        timeout_s=_CHANNEL_TIMEOUT_S,
    )
    try:
        text = await ari.get_variable(channel_id, f"DB_KEYS({family})")
    finally:
        try:
            await ari.hangup(channel_id)
        except AriNotFound:
            pass
        except AriError as exc:  # it ends by itself within seconds
            log.debug("AstDB helper channel %s not hung up: %s", channel_id, exc)
    return split_keys(text or "")


async def delete(ari: AriClient, family: str, key: str) -> None:
    """Delete one key (nothing happens when it does not exist)."""
    await ari.set_global_variable(f"DB_DELETE({family}/{key})", "")
