"""Asterisk configuration of the test sandbox, rendered as plain text.

Pure functions: they return ``{file name: content}`` and never touch the disk, so the
generated config can be unit-tested and read (``render_configs``). The sandbox writes
the result into its own ``astetcdir`` so none of the package's sample configs load.
Ports and names follow docs/dev/contracts.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from router.asterisk_config.render import (
    FALLBACK_QUEUE,
    PbxPlan,
    render_ari,
    render_dialplan,
    render_fallback_queue,
    render_http,
)
from sip_test_harness.sandbox_agi import add_agi_mode

ARI_USER = "clinic-router"
ARI_PASSWORD = "clinic-router-secret"  # sandbox only; never reuse on a real PBX
HOST = "127.0.0.1"  # instance 0's address; instance N renders its own (instance.py)
SIP_PORT = 5060
HTTP_PORT = 8088
AMI_PORT = 5038
# Asterisk takes an even port per media stream and the next one for its RTCP: 2,000 streams
# (the waiting-callers benchmark holds 1,000 callers, each with a media stream)
RTP_PORTS = (20000, 23999)
CALLER_PORTS = tuple(range(5061, 5070))  # SIPp UACs acting as the carrier
OPERATORS = tuple(f"op{1000 + n}" for n in range(1, 9))  # op1001..op1008
LOAD_OPERATORS = tuple(f"lop{n:03d}" for n in range(1, 201))  # lop001..lop200
LOAD_OPERATOR_PORT = 5100
# Qualify periods (s): the test phones' state follows within a second; the 200 load
# operators' OPTIONS would load Asterisk during load runs at that rate
PHONE_QUALIFY_S = 1
LOAD_QUALIFY_S = 5
# SIPp UACs acting as a second carrier, for the benchmark's baselines only: the endpoint
# `bench-trunk` enters [bench-inbound] (plain Dial, app_queue, minimal ARI app), never the
# clinic-router dialplan
BENCH_CALLER_PORTS = tuple(range(5091, 5100))
BENCH_QUEUE = "bench"
BENCH_ARI_APP = "bench-minimal"
PATIENTS_PORT = 5080
# The dialplan and the fallback queue come from the product's generator
# (router/asterisk_config, `clinic-router asterisk-config`), included like on a PBX.
DIALPLAN_FILE = "clinic-router-extensions.conf"
QUEUE_FILE = "clinic-router-queues.conf"


def operator_port(name: str) -> int:
    """SIP port of an operator phone: op100N listens on 5070+N (contracts.md)."""
    if name not in OPERATORS:
        raise ValueError(f"unknown operator phone {name!r} (known: {', '.join(OPERATORS)})")
    return 5070 + int(name[-1])


@dataclass(frozen=True)
class AsteriskLayout:
    """Directories as Asterisk sees them (inside the chroot, or host paths for a system Asterisk).

    Only the directories the sandbox must own are overridden; everything else (modules,
    sounds, keys) keeps the package's compiled-in defaults so a source build works too.
    """

    etc_dir: str = "/etc/asterisk.clinic"
    run_dir: str = "/var/run/asterisk.clinic"
    log_dir: str = "/var/log/asterisk.clinic"
    spool_dir: str = "/var/spool/asterisk.clinic"
    db_dir: str = "/var/lib/asterisk.clinic"
    moh_dir: str = "/usr/share/asterisk/moh"
    channelvars: tuple[str, ...] = field(default=("DID",))

    @property
    def dirs(self) -> tuple[str, ...]:
        """Directories that must exist before Asterisk starts."""
        return (self.etc_dir, self.run_dir, self.log_dir, self.spool_dir, self.db_dir)


def sandbox_plan(host: str = HOST) -> PbxPlan:
    """What the product's generator renders for the sandbox on ``host``."""
    return PbxPlan(
        ari_user=ARI_USER,
        ari_password=ARI_PASSWORD,
        http_bindaddr=host,
        http_port=HTTP_PORT,
        endpoints=tuple(f"PJSIP/{name}" for name in OPERATORS),
    )


def render_configs(
    layout: AsteriskLayout, indications: str, dialplan: str | None = None, host: str = HOST
) -> dict[str, str]:
    """Return every config file of the sandbox on ``host``, keyed by file name.

    The clinic-router parts (HTTP, the ARI user, the dialplan, the fallback queue) are
    rendered by the product's generator for the sandbox's operators and included the way
    `clinic-router asterisk-config --apply` includes them on a PBX; ``dialplan`` replaces
    the generated dialplan (an experiment's own). ``indications`` is the package's
    indications.conf, copied as is because without it ``tone:ring`` fails
    (docs/dev/asterisk-behaviour.md §9).
    """
    plan = sandbox_plan(host)
    files = {
        "asterisk.conf": _asterisk_conf(layout),
        "modules.conf": _MODULES_CONF,
        "logger.conf": _LOGGER_CONF,
        "http.conf": _HTTP_CONF,
        "clinic-router-http.conf": render_http(plan),
        "ari.conf": _ari_conf(layout.channelvars),
        "clinic-router-ari.conf": render_ari(plan),
        "manager.conf": _manager_conf(host),
        "rtp.conf": f"[general]\nrtpstart = {RTP_PORTS[0]}\nrtpend = {RTP_PORTS[1]}\n",
        "indications.conf": indications,
        "musiconhold.conf": _musiconhold_conf(layout.moh_dir),
        "queues.conf": _QUEUES_CONF + _BENCH_QUEUE_CONF,
        QUEUE_FILE: render_fallback_queue(plan.endpoints, plan.ring_timeout_s),
        "pjsip.conf": render_pjsip_conf(host),
        "extensions.conf": _EXTENSIONS_CONF + _BENCH_EXTENSIONS,
        DIALPLAN_FILE: render_dialplan(plan.endpoints) if dialplan is None else dialplan,
    }
    return add_agi_mode(files, host)  # AGI mode beside it (sandbox_agi)


def _asterisk_conf(layout: AsteriskLayout) -> str:
    return f"""; generated by sip_test_harness: the clinic-router test sandbox
[directories]
astetcdir => {layout.etc_dir}
astrundir => {layout.run_dir}
astlogdir => {layout.log_dir}
astspooldir => {layout.spool_dir}
astdbdir => {layout.db_dir}

[options]
verbose = 3
nocolor = yes
; no 'runuser': the sandbox runs as root inside its own chroot
"""


_MODULES_CONF = """[modules]
autoload = yes
; modules that would bind ports or devices nobody in the sandbox uses, or that
; duplicate another (app_voicemail_odbc/imap register the same applications)
noload => app_voicemail_odbc.so
noload => app_voicemail_imap.so
noload => chan_iax2.so
noload => chan_unistim.so
noload => chan_console.so
noload => res_hep.so
noload => res_hep_pjsip.so
noload => res_hep_rtcp.so
noload => res_phoneprov.so
noload => res_pjsip_phoneprov_provider.so
"""

_LOGGER_CONF = """[general]
dateformat = %F %T.%3q

[logfiles]
; no console channel: Asterisk runs in the background with -f
messages.log => notice,warning,error,verbose(3),dtmf
"""

# The address and port come from the generated file, merged into [general] with (+)
_HTTP_CONF = """[general]
enabled = no

#include clinic-router-http.conf
"""


def _ari_conf(channelvars: Sequence[str]) -> str:
    vars_line = f"channelvars = {','.join(channelvars)}\n" if channelvars else ""
    return f"""[general]
enabled = no
pretty = no
{vars_line}
; the ARI user (and enabled = yes) from the generator, merged into [general] with (+)
#include clinic-router-ari.conf
"""


def _manager_conf(host: str) -> str:
    # a local client's source address is 127.0.0.1 whichever loopback address it dials
    return f"""[general]
enabled = yes
bindaddr = {host}
port = {AMI_PORT}

[{ARI_USER}]
secret = {ARI_PASSWORD}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.0/255.0.0.0
read = all
write = all
"""


def _musiconhold_conf(moh_dir: str) -> str:
    return f"""[general]

[default]
mode = files
directory = {moh_dir}
"""


_QUEUES_CONF = f"""[general]
persistentmembers = no

; the fallback queue [{FALLBACK_QUEUE}], members from the operators (the generator)
#include {QUEUE_FILE}
"""


def _endpoint_template(host: str) -> str:
    return f"""[clinic-endpoint](!)
type = endpoint
transport = transport-udp
allow = !all,ulaw,alaw
; direct media makes Asterisk re-INVITE both SIPp legs after bridging (calls failed under load)
direct_media = no
media_address = {host}
bind_rtp_to_media_address = yes
dtmf_mode = rfc4733

[clinic-aor](!)
type = aor
max_contacts = 1
; qualify (qualify_frequency and qualify_timeout per AOR below): an unreachable phone
; then fails at once instead of after SIP timer B (32 s)
"""


def qualify_timeout_s(qualify_frequency: int) -> float:
    """How long an AOR's OPTIONS waits for its answer: half the period at most, so each
    one has its result before the next is sent. Asterisk applies each OPTIONS's result when
    it completes, not in the order they were sent: with timeout = period (1 s), the
    OPTIONS sent just before a phone bound its port timed out right after the next one
    was answered, and the fresh phone read `offline` for a whole second after it first
    read `online` (a call placed then skipped it)."""
    return min(1.0, qualify_frequency / 2)


def _phone(
    name: str,
    context: str,
    contact: str,
    match: str | None,
    qualify_frequency: int = PHONE_QUALIFY_S,
) -> str:
    """Endpoint + AOR (+ identify by source port when the phone has a port of its own)."""
    text = (
        f"[{name}](clinic-endpoint)\ncontext = {context}\naors = {name}\n\n"
        f"[{name}](clinic-aor)\ncontact = {contact}\n"
        f"qualify_frequency = {qualify_frequency}\n"
        f"qualify_timeout = {qualify_timeout_s(qualify_frequency)}\n\n"
    )
    if match is not None:
        text += f"[{name}]\ntype = identify\nendpoint = {name}\nmatch = {match}\n\n"
    return text


def render_pjsip_conf(host: str = HOST) -> str:
    """pjsip.conf: UDP transport, the carrier trunk, operator, load-operator and patient phones.

    Identification: every SIPp runs on ``host``, so ``match=<host>`` alone would
    claim operators' requests for the trunk. res_pjsip_endpoint_identifier_ip matches
    ``IP:port`` (Asterisk 16.8+), so the trunk owns only the caller ports 5061-5069 and
    each phone its own port. Load operators share port 5100 and are identified by the
    From user instead (``username`` comes after ``ip`` in endpoint_identifier_order).
    """
    parts = [
        "; generated by sip_test_harness: the clinic-router test sandbox\n",
        "[global]\ntype = global\nendpoint_identifier_order = ip,username\n"
        "user_agent = clinic-router-sandbox\n\n",
        f"[transport-udp]\ntype = transport\nprotocol = udp\nbind = {host}:{SIP_PORT}\n\n",
        _endpoint_template(host),
        "\n; the carrier: SIPp callers on ports 5061-5069\n",
        "[trunk](clinic-endpoint)\ncontext = clinic-router-inbound\ntrust_id_inbound = yes\n\n",
        "[trunk]\ntype = identify\nendpoint = trunk\nmatch = "
        + ",".join(f"{host}:{port}" for port in CALLER_PORTS)
        + "\n\n",
        "; benchmark baselines only: SIPp callers on ports 5091-5099 -> [bench-inbound]\n",
        "[bench-trunk](clinic-endpoint)\ncontext = bench-inbound\ntrust_id_inbound = yes\n\n",
        "[bench-trunk]\ntype = identify\nendpoint = bench-trunk\nmatch = "
        + ",".join(f"{host}:{port}" for port in BENCH_CALLER_PORTS)
        + "\n\n",
        "; outbound trunk to patients' phones (callbacks): SIPp UAS on 5080\n",
        _phone(
            "patients",
            "clinic-router-inbound",
            f"sip:{host}:{PATIENTS_PORT}",
            f"{host}:{PATIENTS_PORT}",
        ),
        "; operator phones: SIPp UAS op100N on 5070+N\n",
    ]
    for name in OPERATORS:
        port = operator_port(name)
        parts.append(
            _phone(name, "clinic-router-operators", f"sip:{name}@{host}:{port}", f"{host}:{port}")
        )
    parts.append(
        f"; load operators: one SIPp UAS on {LOAD_OPERATOR_PORT} answers for all;\n"
        "; qualified every 5 s so 200 OPTIONS/s do not load Asterisk during load tests\n"
    )
    for name in LOAD_OPERATORS:
        parts.append(
            _phone(
                name,
                "clinic-router-operators",
                f"sip:{name}@{host}:{LOAD_OPERATOR_PORT}",
                None,
                qualify_frequency=LOAD_QUALIFY_S,
            )
        )
    return "".join(parts)


_EXTENSIONS_CONF = f"""; generated by sip_test_harness: the clinic-router test sandbox
[general]
static = yes
writeprotect = yes

[globals]

; the product's dialplan, rendered by router/asterisk_config at every 'sandbox up'
#include {DIALPLAN_FILE}

; sandbox-only helpers (never part of a clinic's PBX)
[sandbox-test]
exten => echo,1,Answer()
 same => n,Echo()
exten => hangup,1,Hangup()
"""


# The benchmark's baselines (sip_test_harness.bench): same load operators, no router.
_BENCH_QUEUE_CONF = (
    "\n".join(
        [
            "",
            f"[{BENCH_QUEUE}]",
            "; benchmark baseline (2): app_queue with the load operators as static members",
            "strategy = rrmemory",
            "timeout = 15",
            "retry = 1",
            "ringinuse = no",
            "autofill = yes",
            "announce-frequency = 0",
            "joinempty = unavailable,invalid",
            "leavewhenempty = unavailable,invalid",
            *(f"member => PJSIP/{name}" for name in LOAD_OPERATORS),
        ]
    )
    + "\n"
)

_BENCH_EXTENSIONS = f"""
; benchmark baselines, reached only from the endpoint bench-trunk (ports 5091-5099):
; 900NNN... plain Dial() to lopNNN; 901... app_queue; 902... the minimal ARI app
[bench-inbound]
exten => _900XXX.,1,Dial(PJSIP/lop${{EXTEN:3:3}},30)
 same => n,Hangup()
exten => _901X.,1,Ringing()
 same => n,Queue({BENCH_QUEUE},t,,,30)
 same => n,Hangup()
exten => _902X.,1,Stasis({BENCH_ARI_APP})
 same => n,Hangup()
"""
