"""Command line of the test harness.

python -m sip_test_harness sandbox build|up|down|status|restart
python -m sip_test_harness call --from 79161234567 --to 74952232222 [--dtmf 12]
python -m sip_test_harness phones op1001=answer op1002=busy op1004=delay:3 [--hold 5]
python -m sip_test_harness load --rate 5 --calls 100 [--mix FILE] [--operators 50] [--format json]
python -m sip_test_harness day [--calls 1600] [--profile monday] [--seed 16] [--scale 60]
python -m sip_test_harness bench
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from collections.abc import Sequence

from sip_test_harness import day as day_cli
from sip_test_harness.errors import HarnessError
from sip_test_harness.load import cli as load_cli
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.scenarios import Behaviour
from sip_test_harness.sipp import Phones, place_call


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sip_test_harness", description="clinic-router's Asterisk sandbox and SIPp"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sandbox = sub.add_parser("sandbox", help="build, start, stop or inspect the sandbox")
    sandbox.add_argument("action", choices=["build", "up", "down", "status", "restart"])
    call = sub.add_parser("call", help="place one call as the carrier trunk")
    call.add_argument("--from", dest="from_number", required=True, help="caller number")
    call.add_argument("--to", dest="did", required=True, help="DID called (may start with +)")
    call.add_argument("--dtmf", default="", help="digits sent after the answer (0-9*#, ',')")
    call.add_argument("--dtmf-delay", type=float, default=1.0, help="seconds before DTMF")
    call.add_argument("--hangup-after", type=float, help="hang up N s after answer (+DTMF)")
    call.add_argument("--cancel-after", type=float, help="give up after N s of ringing")
    call.add_argument("--timeout", type=float, default=60.0, help="bound of the whole call")
    call.add_argument(
        "--target", help="Asterisk's SIP address (default: the sandbox instance's host:5060)"
    )
    call.add_argument("--keep-logs", action="store_true", help="keep SIPp's logs")
    phones = sub.add_parser("phones", help="run simulated phones until Ctrl-C")
    phones.add_argument(
        "spec",
        nargs="+",
        metavar="PHONE=BEHAVIOUR",
        help="e.g. op1001=answer op1002=busy op1003=never op1004=delay:3",
    )
    phones.add_argument("--hold", type=float, help="answered calls: hang up after N s")
    phones.add_argument("--no-ari", action="store_true", help="do not wait for ARI 'online'")
    load = sub.add_parser("load", help="SIPp load through the sandbox or a staging PBX")
    load_cli.add_arguments(load)
    day = sub.add_parser("day", help="a generated clinic day through the sandbox, checked")
    day_cli.add_arguments(day)
    sub.add_parser("demo", help="sandbox + router + scripted calls (sip_test_harness.demo)")
    sub.add_parser("bench", help="load benchmark (sip_test_harness.bench)")
    return parser


def _module_main(name: str) -> int:
    """Run ``sip_test_harness.<name>.main()``, imported only when asked for."""
    try:
        module = importlib.import_module(f"sip_test_harness.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"sip_test_harness.{name}":
            raise
        raise HarnessError(
            f"'{name}' is not available yet (no sip_test_harness/{name}.py)"
        ) from exc
    result: int = module.main()
    return result


def _sandbox(action: str) -> int:
    sandbox = Sandbox()
    if action == "build":
        sandbox.build()
    elif action == "up":
        sandbox.up()
    elif action == "down":
        sandbox.down()
        print("sandbox down")
    elif action == "restart":
        sandbox.restart_asterisk()
        print(sandbox.status())
    else:
        status = sandbox.status()
        print(status)
        return 0 if status.running else 3
    return 0


async def _call(args: argparse.Namespace) -> int:
    result = await place_call(
        args.from_number,
        args.did,
        dtmf=args.dtmf,
        dtmf_delay=args.dtmf_delay,
        hangup_after=args.hangup_after,
        cancel_after=args.cancel_after,
        timeout=args.timeout,
        target=args.target,
        keep_logs=args.keep_logs,
    )
    print(
        f"{'ok' if result.ok else 'FAILED'}: responses {list(result.summary.statuses)}, "
        f"answered={result.answered} after {result.time_to_answer} s, "
        f"hangup by {result.hangup_by}, {result.duration} s, SIPp exit {result.exit_code}"
    )
    if result.log_dir:
        print(f"logs: {result.log_dir}")
    if result.errors:
        print(result.errors)
    return 0 if result.ok else 1


async def _phones(args: argparse.Namespace) -> int:
    spec = {}
    for item in args.spec:
        name, sep, behaviour = item.partition("=")
        if not sep:
            raise HarnessError(f"expected PHONE=BEHAVIOUR, got {item!r}")
        spec[name] = Behaviour.parse(behaviour, hold=args.hold)
    phones = Phones(spec, use_ari=not args.no_ari)
    # SIGTERM (kill, timeout, systemd) must stop the phones too, like Ctrl-C does
    current = asyncio.current_task()
    assert current is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, current.cancel)
    seen: dict[str, int] = {}
    try:
        async with phones:
            print(f"phones ready: {', '.join(spec)} (Ctrl-C stops them)", flush=True)
            while True:
                for name, report in phones.reports().items():
                    for call in report.calls[seen.get(name, 0) :]:
                        print(f"{name}: INVITE for {call.called} ({call.call_id})", flush=True)
                    seen[name] = report.invites
                await asyncio.sleep(0.5)
    finally:
        for name, report in phones.reports().items():
            print(
                f"{name}: {report.invites} INVITEs, {report.answered} answered, "
                f"{report.busy} busy, {report.cancelled} cancelled"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            return _sandbox(args.action)
        if args.command == "call":
            return asyncio.run(_call(args))
        if args.command == "load":
            return load_cli.main(args)
        if args.command == "day":
            return day_cli.main(args)
        if args.command in ("demo", "bench"):
            return _module_main(args.command)
        return asyncio.run(_phones(args))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


if __name__ == "__main__":
    sys.exit(main())
