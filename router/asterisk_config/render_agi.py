"""AGI mode's Asterisk side, rendered without I/O: the AGI dialplan with the router's
address and the `mode: agi` lines' numbers, app_queue's queues and penalty rules from
the rules (router/agi/queues.py), and the AMI user the router logs in with.

`clinic-router asterisk-config` writes them next to ARI mode's files when the rules have
a line in `mode: agi` (docs/agi-mode.md, "Generating the files"). The shipped
`dialplan/clinic-router-agi.conf` is this dialplan with the defaults and no numbers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from router.agi.queue_files import QUEUES_FILE, RULES_FILE, queue_files
from router.config.rules import Rules
from router.config.settings import Settings

DIALPLAN_FILE = "clinic-router-agi.conf"
MANAGER_FILE = "clinic-router-manager.conf"
DEFAULT_URL = "agi://127.0.0.1:4573"
DEFAULT_TIMEOUT_S = 4
# What the router's AMI session needs. read: app_queue's and the members' events (agent),
# the channels' (call: Dial*, Hangup, OriginateResponse), QUEUESTATUS (dialplan: VarSet).
# write: Filter, QueueReload, CoreShowChannels (system, reporting), QueuePause (agent),
# Originate for callbacks (originate, call).
AMI_READ = "call,agent,dialplan"
AMI_WRITE = "system,call,agent,originate,reporting"
# Which stock file includes each generated file (asterisk_config.render.INCLUDED_FROM).
INCLUDED_FROM = {
    DIALPLAN_FILE: "extensions.conf",
    QUEUES_FILE: "queues.conf",
    RULES_FILE: "queuerules.conf",
    MANAGER_FILE: "manager.conf",
}


@dataclass(frozen=True)
class AgiPlan:
    """What AGI mode needs from Asterisk for these settings and rules."""

    url: str  # where the dialplan's AGI() reaches the router
    numbers: tuple[str, ...]  # the `mode: agi` lines' numbers, as the rules spell them
    queue_files: dict[str, str]  # app_queue's queues and penalty rules (router/agi)
    ami_user: str
    ami_secret: str
    ami_bindaddr: str
    ami_port: int
    ami_permit: str | None  # the router's address (None: not known, see render_manager)
    timeout_s: int = DEFAULT_TIMEOUT_S


def agi_plan(settings: Settings, rules: Rules, ami_secret: str) -> AgiPlan | None:
    """The plan when the rules have a line in `mode: agi` (None otherwise)."""
    numbers = tuple(n for line in rules.lines if line.mode == "agi" for n in line.numbers)
    if not numbers:
        return None
    agi, routing = settings.agi, settings.routing
    router_ip = _address(agi.host)
    return AgiPlan(
        url=f"agi://{_url_host(router_ip or '127.0.0.1')}:{agi.port}",
        numbers=numbers,
        queue_files=queue_files(
            rules, routing.ring_timeout_s, routing.unrouted_max_wait_s, routing.wrap_up_s
        ),
        ami_user=agi.ami_username,
        ami_secret=ami_secret,
        ami_bindaddr=_address(agi.ami_host) or "0.0.0.0",
        ami_port=agi.ami_port,
        ami_permit=_permit(router_ip, agi.ami_host),
    )


def _address(host: str) -> str | None:
    """A concrete IP address (a wildcard like 0.0.0.0, or a host name: None)."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return None if ip.is_unspecified else str(ip)


def _url_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _permit(router_ip: str | None, ami_host: str) -> str | None:
    """Who may log in as the router: every loopback address when AMI is local (a local
    client's source is 127.0.0.1 whichever loopback address it dials), else the router's
    own address when it listens on one."""
    ami_ip = _address(ami_host)
    if ami_ip is not None and ipaddress.ip_address(ami_ip).is_loopback:
        return "127.0.0.0/255.0.0.0"
    if router_ip is not None and not ipaddress.ip_address(router_ip).is_loopback:
        return f"{router_ip}/255.255.255.255" if ":" not in router_ip else router_ip
    return None


def render_agi_files(plan: AgiPlan) -> dict[str, str]:
    return {
        DIALPLAN_FILE: render_agi_dialplan(plan.url, plan.timeout_s, plan.numbers),
        **plan.queue_files,
        MANAGER_FILE: render_manager(plan),
    }


def render_agi_dialplan(
    url: str = DEFAULT_URL, timeout_s: int = DEFAULT_TIMEOUT_S, numbers: Sequence[str] = ()
) -> str:
    """The AGI dialplan; `numbers` (the `mode: agi` lines') enter it from the trunk's
    `[clinic-router-inbound]`, every other number stays in ARI mode."""
    text = (
        _AGI_HEAD
        + (
            f"[globals]\nCR_AGI_URL = {url}\n"
            "; seconds the router has to answer, until it extends them itself\n"
            f"CR_AGI_TIMEOUT = {timeout_s}\n\n"
        )
        + _AGI_BODY
    )
    if not numbers:
        return text
    entries = "".join(
        f"exten => {number},1,Goto(clinic-router-agi-entry,${{EXTEN}},1)\n"
        for number in dict.fromkeys(numbers)
    )
    return text + _LINES_HEAD + entries


def render_manager(plan: AgiPlan) -> str:
    """The router's AMI user (the secret: only in this file, never printed unmasked)."""
    if plan.ami_permit is not None:
        access = f"deny = 0.0.0.0/0.0.0.0\npermit = {plan.ami_permit}\n"
    else:
        access = (
            "; the router's address is not known here (agi.host is a wildcard or a name):\n"
            "; add `deny = 0.0.0.0/0.0.0.0` and `permit = <router address>/255.255.255.255`\n"
        )
    return (
        "; generated by `clinic-router asterisk-config` from router.yaml and rules.yaml:\n"
        "; do not edit, re-run the command (the secret comes from the router's environment)\n"
        f"[general](+)\nenabled = yes\nbindaddr = {plan.ami_bindaddr}\nport = {plan.ami_port}\n\n"
        f"[{plan.ami_user}]\nsecret = {plan.ami_secret}\n{access}"
        f"read = {AMI_READ}\nwrite = {AMI_WRITE}\n"
    )


_AGI_HEAD = """\
; clinic-router in AGI mode: the PBX keeps its calls in the dialplan and app_queue; the
; router only decides (docs/agi-mode.md).
;
; Include this file from extensions.conf next to clinic-router-extensions.conf (the
; generated ARI-mode dialplan: its [clinic-router-fallback] is the plain queue used here
; when the router cannot decide) and point the trunk's inbound calls for the lines in
; `mode: agi` at `context = clinic-router-agi-inbound`. The queues the router names
; (CR_QUEUE) come from `clinic-router-agi-queues.conf` (docs/agi-mode.md).
;
; How a call is decided
; ---------------------
; AGI(agi://ROUTER:4573/route) hands the call to the router, which looks the caller up,
; plays the trimmed menu itself when one is needed, and returns its decision as channel
; variables:
;   CR_TARGET   queue | operator | callback | voicemail | message
;   CR_QUEUE    the app_queue queue to wait in (also after an operator target)
;   CR_QUEUE_WAIT  seconds to wait there;  QUEUE_PRIO, QUEUE_MAX_PENALTY  for app_queue
;   CR_OPERATOR the endpoint to ring first (PJSIP/101), CR_OPERATOR_WAIT its ring budget
;   CR_MESSAGE  the prompt of a message / callback target
;   CR_LANG, CR_PATIENT, CR_CALL  the caller's language, patient id, the router's call id
;
; The router is never a single point of failure: a refused connection (router down)
; fails AGI() at once; a router that accepts but does not answer (frozen) is cut by the
; channel's absolute timeout, which the router itself pushes forward while it plays a
; menu, and the call goes on in [clinic-router-fallback] (the plain queue) from `T`.
; AGIEXITONHANGUP makes AGI() return when that timeout fires instead of waiting for a
; frozen router to close the socket.

"""

_AGI_BODY = """[clinic-router-agi-inbound]
; `_X.` does not match a DID written with a leading `+`, hence the second pattern.
exten => _X.,1,Goto(clinic-router-agi-entry,${EXTEN},1)
exten => _+X.,1,Goto(clinic-router-agi-entry,${EXTEN},1)

[clinic-router-agi-entry]
exten => _[+0-9].,1,NoOp(clinic-router AGI entry DID=${EXTEN})
 same => n,Set(DID=${EXTEN})
 same => n,Answer()
 same => n,Set(AGIEXITONHANGUP=yes)
 same => n,Set(TIMEOUT(absolute)=${CR_AGI_TIMEOUT})
 same => n,AGI(${CR_AGI_URL}/route)
 same => n,Set(TIMEOUT(absolute)=0)
 ; FAILURE: the router is down; HANGUP: the caller left (or the timeout, handled by `T`).
 same => n,GotoIf($["${AGISTATUS}"!="SUCCESS"]?clinic-router-agi-plain,s,1)
@GOTO_TARGET@
 same => n,Goto(clinic-router-agi-plain,s,1)
; The router did not answer within its time: the plain queue.
exten => T,1,NoOp(clinic-router AGI timeout DID=${DID})
 same => n,Goto(clinic-router-agi-plain,s,1)

[clinic-router-agi-plain]
exten => s,1,Set(TIMEOUT(absolute)=0)
 same => n,Goto(clinic-router-fallback,${DID},1)

[clinic-router-agi-do]
; The router's manager or named operator first, for up to CR_OPERATOR_WAIT seconds, then
; the queue the rules give next.
exten => operator,1,Dial(${CR_OPERATOR},${CR_OPERATOR_WAIT})
 same => n,GotoIf($["${DIALSTATUS}"="ANSWER"]?done)
 same => n,GotoIf($["${CR_QUEUE}"=""]?clinic-router-agi-plain,s,1)
 same => n,Goto(queue,1)
 same => n(done),Hangup()
exten => queue,1,Queue(${CR_QUEUE},t,,,${CR_QUEUE_WAIT})
 ; TIMEOUT / FULL / JOINEMPTY / LEAVEEMPTY: nobody took the call; the router has the
 ; miss from app_queue's events (docs/agi-mode.md)
 same => n,Playback(vm-nobodyavail)
 same => n,Hangup()
exten => callback,1,Playback(${CR_MESSAGE})
 same => n,Hangup()
exten => voicemail,1,Playback(${CR_MESSAGE})
 same => n,Record(clinic-router-voicemail-${CR_CALL}.wav,3,120,k)
 same => n,Hangup()
exten => message,1,Playback(${CR_MESSAGE})
 same => n,Hangup()
;
; Callbacks (docs/agi-mode.md): the router originates the operator's phone into this
; context over AMI. Once the operator answers, the router says once, over FastAGI, whether
; the patient is dialled (CR_GO), having written that before (exactly once across router
; restarts); then the operator hears the whisper (CR_WHISPER sounds, the last digits of
; the number CR_DIGITS, the reason CR_REASON: a missing sound is skipped) and the
; patient's phone rings, showing the clinic's number (CR_CALLERID); the operator hears it
; ring (r). A router restarted meanwhile only follows this channel: nothing is asked again.
[clinic-router-agi-callback]
exten => s,1,Set(AGIEXITONHANGUP=yes)
 same => n,Set(TIMEOUT(absolute)=${CR_AGI_TIMEOUT})
 same => n,AGI(${CR_AGI_URL}/callback)
 same => n,Set(TIMEOUT(absolute)=0)
 same => n,GotoIf($["${CR_GO}"!="yes"]?stop)
 same => n,Playback(${CR_WHISPER})
 same => n,ExecIf($["${CR_DIGITS}"!=""]?SayDigits(${CR_DIGITS}))
 same => n,ExecIf($["${CR_REASON}"!=""]?Playback(${CR_REASON}))
 same => n,ExecIf($["${CR_CALLERID}"!=""]?Set(CALLERID(num)=${CR_CALLERID}))
 same => n,Dial(${CR_DIAL},${CR_RING},r)
 same => n(stop),Hangup()
exten => T,1,Hangup()
"""

# (a dialplan line longer than this file's lines may be)
_AGI_BODY = _AGI_BODY.replace(
    "@GOTO_TARGET@",
    " same => n,GotoIf($[${DIALPLAN_EXISTS(clinic-router-agi-do,${CR_TARGET},1)}]"
    "?clinic-router-agi-do,${CR_TARGET},1)",
)

_LINES_HEAD = """
; The lines in `mode: agi` (rules.yaml): their numbers enter AGI mode from the trunk's
; context; an exact number wins over the ARI dialplan's `_X.` in the same (merged)
; context, so every other number stays in ARI mode. Moving a line between modes is
; changing its `mode:` and running `clinic-router asterisk-config --apply` again.
[clinic-router-inbound]
"""
