"""The sandbox's AGI mode: included next to the ARI dialplan, the shipped dialplan with the
sandbox router's address, and the AGI line's DID entering it."""

from __future__ import annotations

from sip_test_harness.sandbox_agi import AGI_DID, add_agi_mode, render_dialplan
from sip_test_harness.sandbox_config import AsteriskLayout, render_configs


def test_agi_mode_is_included_beside_the_ari_dialplan() -> None:
    files = render_configs(AsteriskLayout(), "[general]\n")
    extensions = files["extensions.conf"]
    assert extensions.index("#include clinic-router-extensions.conf") < extensions.index(
        "#include clinic-router-agi.conf"
    )
    assert "#include clinic-router-agi-queues.conf" in files["queues.conf"]
    assert files["queuerules.conf"] == "#include clinic-router-agi-queuerules.conf\n"
    assert f"exten => {AGI_DID},1,Goto(clinic-router-agi-entry," in files["sandbox-agi-entry.conf"]


def test_the_shipped_dialplan_gets_the_sandbox_address_and_timeout() -> None:
    text = render_dialplan(port=4999, timeout_s=3)
    assert "CR_AGI_URL = agi://127.0.0.1:4999\n" in text and "CR_AGI_TIMEOUT = 3\n" in text
    # the frozen-router path: an absolute timeout, AGI exits on it, `T` goes on
    assert "Set(AGIEXITONHANGUP=yes)" in text and "exten => T,1," in text


def test_queue_files_of_a_test_are_kept_when_given() -> None:
    files = add_agi_mode(
        {"extensions.conf": "", "queues.conf": "", "clinic-router-agi-queues.conf": "[q]\n"}
    )
    assert files["clinic-router-agi-queues.conf"] == "[q]\n"


def test_a_second_sandbox_instance_reaches_its_own_router() -> None:
    files = render_configs(AsteriskLayout(), "[general]\n", host="127.0.2.1")
    assert "CR_AGI_URL = agi://127.0.2.1:4573\n" in files["clinic-router-agi.conf"]
