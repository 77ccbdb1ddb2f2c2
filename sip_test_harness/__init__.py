"""Test harness of clinic-router: an Asterisk sandbox plus SIPp callers and phones.

See docs/sandbox.md. Public API: ``Sandbox`` (sandbox.py), ``place_call`` and
``CallResult`` (sipp.py), ``Phones`` (phones.py, also exported by sipp.py),
``Behaviour`` (scenarios.py), ``PhoneReport`` (sipp_logs.py).
"""

from sip_test_harness.errors import HarnessError, SandboxError, SippError
from sip_test_harness.probe import AriAccess
from sip_test_harness.sandbox import Sandbox, SandboxStatus
from sip_test_harness.scenarios import Behaviour
from sip_test_harness.sipp import CallResult, Phones, place_call, wait_endpoint_state
from sip_test_harness.sipp_logs import PhoneCall, PhoneReport

__all__ = [
    "AriAccess",
    "Behaviour",
    "CallResult",
    "HarnessError",
    "PhoneCall",
    "PhoneReport",
    "Phones",
    "Sandbox",
    "SandboxError",
    "SandboxStatus",
    "SippError",
    "place_call",
    "wait_endpoint_state",
]
