"""What happened on the wire, read from SIPp's ``-trace_shortmsg`` log.

One line per SIP message sent (S) or received (R), tab-separated:
``date  time  epoch  S|R  Call-ID  CSeq:<n> <method>  <first line>``.
SIPp writes it as it goes, so it can be read while SIPp runs. Retransmissions appear
again, so everything is counted per Call-ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SipMessage:
    """One SIP message as logged by SIPp."""

    at: float
    sent: bool
    call_id: str
    cseq_method: str
    first_line: str

    @property
    def method(self) -> str | None:
        """Request method (``INVITE``), or None for a response."""
        return None if self.first_line.startswith("SIP/2.0") else self.first_line.split(" ", 1)[0]

    @property
    def status(self) -> int | None:
        """Response code (``180``), or None for a request."""
        if not self.first_line.startswith("SIP/2.0 "):
            return None
        try:
            return int(self.first_line.split(" ", 2)[1])
        except (IndexError, ValueError):
            return None

    @property
    def request_user(self) -> str:
        """User part of the request URI (the DID or the phone called); '' for responses."""
        if self.method is None:
            return ""
        uri = self.first_line.split(" ")[1] if " " in self.first_line else ""
        return uri.split(":", 1)[-1].split("@", 1)[0] if "@" in uri else ""


def parse_shortmsg(text: str) -> list[SipMessage]:
    """Parse a short-message log; malformed lines (a partial last line) are skipped."""
    messages = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 7 or parts[3] not in ("S", "R"):
            continue
        try:
            at = float(parts[2])
        except ValueError:
            continue
        method = parts[5].split(" ", 1)[-1]
        messages.append(SipMessage(at, parts[3] == "S", parts[4], method, "\t".join(parts[6:])))
    return messages


def read_shortmsg(path: Path) -> list[SipMessage]:
    """``parse_shortmsg`` of a file; an absent file means no messages yet."""
    try:
        return parse_shortmsg(path.read_text(errors="replace"))
    except FileNotFoundError:
        return []


@dataclass(frozen=True)
class PhoneCall:
    """One INVITE dialog a simulated phone received."""

    call_id: str
    called: str  # user part of the request URI: op1001, lop007, a patient's number
    invited_at: float
    answered_at: float | None
    rejected_with: int | None  # 486 from a busy phone, 487 after CANCEL
    cancelled: bool
    ended_by: str | None  # "phone" (it sent BYE), "far_end" (BYE received) or None

    @property
    def finished(self) -> bool:
        """The call is over for this phone: rejected (486/487) or hung up (BYE)."""
        return self.rejected_with is not None or self.ended_by is not None


@dataclass(frozen=True)
class PhoneReport:
    """Per phone: every INVITE it received and what it did with it."""

    name: str
    calls: tuple[PhoneCall, ...] = field(default=())

    @property
    def invites(self) -> int:
        """Distinct INVITEs (calls) received; re-INVITEs and retransmissions are not counted."""
        return len(self.calls)

    @property
    def answered(self) -> int:
        """Calls this phone answered (sent 200 OK)."""
        return sum(1 for call in self.calls if call.answered_at is not None)

    @property
    def completed(self) -> int:
        """Answered calls that ended with a BYE (from either side): a clean hang-up."""
        return sum(
            1 for call in self.calls if call.answered_at is not None and call.ended_by is not None
        )

    @property
    def in_progress(self) -> int:
        """Calls still ringing or talking on this phone."""
        return sum(1 for call in self.calls if not call.finished)

    @property
    def cancelled(self) -> int:
        """Calls cancelled while ringing."""
        return sum(1 for call in self.calls if call.cancelled)

    @property
    def busy(self) -> int:
        """Calls rejected with 486 Busy Here."""
        return sum(1 for call in self.calls if call.rejected_with == 486)

    def invites_to(self, user: str) -> int:
        """INVITEs whose request URI names ``user`` (e.g. one load operator ``lop007``)."""
        return sum(1 for call in self.calls if call.called == user)


def phone_report(name: str, messages: list[SipMessage]) -> PhoneReport:
    """Summarise a phone's (UAS) log per INVITE dialog, in arrival order."""
    by_call: dict[str, list[SipMessage]] = {}
    for message in messages:
        by_call.setdefault(message.call_id, []).append(message)
    calls = []
    for call_id, msgs in by_call.items():
        invite = next((m for m in msgs if not m.sent and m.method == "INVITE"), None)
        if invite is None:
            continue  # qualify OPTIONS and the like
        answered = next(
            (m.at for m in msgs if m.sent and m.status == 200 and m.cseq_method == "INVITE"), None
        )
        rejected = next(
            (
                m.status
                for m in msgs
                if m.sent and m.cseq_method == "INVITE" and (m.status or 0) >= 300
            ),
            None,
        )
        ended_by = (
            "phone"
            if any(m.sent and m.method == "BYE" for m in msgs)
            else "far_end"
            if any(not m.sent and m.method == "BYE" for m in msgs)
            else None
        )
        calls.append(
            PhoneCall(
                call_id=call_id,
                called=invite.request_user,
                invited_at=invite.at,
                answered_at=answered,
                rejected_with=rejected,
                cancelled=any(not m.sent and m.method == "CANCEL" for m in msgs),
                ended_by=ended_by,
            )
        )
    calls.sort(key=lambda call: call.invited_at)
    return PhoneReport(name, tuple(calls))


@dataclass(frozen=True)
class CallSummary:
    """What a caller (UAC) saw of its INVITE."""

    statuses: tuple[int, ...]  # responses to the INVITE in arrival order, retransmissions dropped
    answered: bool
    time_to_answer: float | None  # seconds from the first INVITE to the 200 OK
    hangup_by: str | None  # "caller" (BYE/CANCEL sent), "far_end" (BYE received) or None

    @property
    def final_status(self) -> int | None:
        """The final (>= 200) response to the INVITE, if any."""
        return next((s for s in reversed(self.statuses) if s >= 200), None)


def call_summary(messages: list[SipMessage]) -> CallSummary:
    """Summarise a caller's log (one call).

    Only our INVITE's dialog counts: Asterisk may still retransmit to this port for a
    dialog of an earlier caller that was killed without hanging up.
    """
    invite = next((m for m in messages if m.sent and m.method == "INVITE"), None)
    if invite is None:
        return CallSummary((), False, None, None)
    messages = [m for m in messages if m.call_id == invite.call_id]
    statuses: list[int] = []
    answered_at = None
    for m in messages:
        if not m.sent and m.cseq_method == "INVITE" and m.status is not None:
            if not statuses or statuses[-1] != m.status:
                statuses.append(m.status)
            if m.status == 200 and answered_at is None:
                answered_at = m.at
    if any(m.sent and m.method in ("BYE", "CANCEL") for m in messages):
        hangup_by: str | None = "caller"
    elif any(not m.sent and m.method == "BYE" for m in messages):
        hangup_by = "far_end"
    else:
        hangup_by = None
    time_to_answer = None
    if answered_at is not None:
        time_to_answer = round(answered_at - invite.at, 3)
    return CallSummary(tuple(statuses), answered_at is not None, time_to_answer, hangup_by)
