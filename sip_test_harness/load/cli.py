"""``python -m sip_test_harness load``: a load run against the sandbox or a staging PBX.

Against the sandbox (the default) it takes the sandbox lock, starts the sandbox if
needed, and runs clinic-router as a subprocess with a generated rules file listing the
K load operators and the known callers imported as patients. Against another PBX
(``--target``) it runs only the SIPps; give ``--router-url``/``--router-token`` to
count lost calls from that router's journeys.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from sip_test_harness.errors import HarnessError
from sip_test_harness.instance import current
from sip_test_harness.load import observe
from sip_test_harness.load.mix import load_mix
from sip_test_harness.load.reachable import check_sip_reachable
from sip_test_harness.load.runner import MODES, LoadOptions, prepare, run_load
from sip_test_harness.lock import sandbox_lock
from sip_test_harness.probe import AriAccess
from sip_test_harness.router_process import TOKEN, RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_config import SIP_PORT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``load`` subcommand's options."""
    parser.add_argument("--rate", type=float, required=True, help="calls per second")
    parser.add_argument("--calls", type=int, help="calls to place (default rate x duration)")
    parser.add_argument("--duration", type=float, help="seconds of load (when --calls is unset)")
    parser.add_argument("--mix", type=Path, help="call mix YAML (default: the shipped mix)")
    parser.add_argument("--operators", type=int, default=50, help="load operators lop001..lopK")
    parser.add_argument(
        "--target", help="the PBX's SIP host:port (default: the sandbox instance's, host:5060)"
    )
    parser.add_argument(
        "--local-ip",
        help="this host's IP as the PBX sees it (default: the sandbox instance's host; "
        "127.0.0.1 with --target)",
    )
    parser.add_argument("--mode", choices=MODES, default="router", help="sandbox: what answers")
    parser.add_argument("--ari", help="PBX ARI as user:password@host:port (leftover check)")
    parser.add_argument("--router-url", help="a running router's HTTP API (staging PBX)")
    parser.add_argument("--router-token-env", default="CLINIC_ROUTER_API_TOKEN")
    parser.add_argument(
        "--no-menu", action="store_true", help="sandbox router: everyone straight to the queue"
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--keep-logs", action="store_true", help="keep SIPp logs and files")


def _calls(args: argparse.Namespace) -> int:
    if args.calls:
        return int(args.calls)
    if args.duration:
        return max(1, round(float(args.rate) * float(args.duration)))
    raise HarnessError("give --calls or --duration")


def _ari(text: str | None) -> AriAccess | None:
    if not text:
        return None
    creds, _, where = text.rpartition("@")
    user, _, password = creds.partition(":")
    host, _, port = where.partition(":")
    return AriAccess(host=host, port=int(port or 8088), user=user, password=password)


def _print(report_text: str, fmt: str, report_json: str) -> None:
    print(report_json if fmt == "json" else report_text, flush=True)


async def _sandbox_run(args: argparse.Namespace, options: LoadOptions) -> int:
    sandbox = Sandbox()
    await asyncio.to_thread(sandbox.up)
    options = LoadOptions(**{**options.__dict__, "asterisk_pid": sandbox.pid()})
    workdir = Path(tempfile.mkdtemp(prefix="clinic-load-"))
    router = None
    try:
        if options.mode == "router":
            router = await start_router(workdir, options)
            options = LoadOptions(**{**options.__dict__, "app_pid": router.pid})
        api = router_api(router) if router else None
        result = await run_load(options, router=api, workdir=workdir)
        _print(result.table(), args.format, result.to_json())
        return 0 if result.failed == 0 and not result.lost else 1
    finally:
        if router is not None:
            await router.stop()
        await asyncio.to_thread(sandbox.hangup_all)
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)


async def start_router(workdir: Path, options: LoadOptions) -> RouterProcess:
    """The router on a rules file of the load operators, known callers imported.

    ``prepare`` writes the run's files now (``run_load`` writes the same ones again).
    """
    prepare(options, workdir)
    # info, not debug: a debug line per ARI event would be measured as routing CPU
    router = RouterProcess(
        workdir, rules=workdir / "rules.yaml", ring_timeout_s=6, log_level="info"
    )
    patients = str(workdir / "patients.csv")
    imported = await asyncio.to_thread(
        router.cli, "patients", "import", patients, "--config", str(router.config)
    )
    if imported.returncode != 0:
        raise HarnessError(f"patients import failed: {imported.stderr or imported.stdout}")
    await router.start()
    return router


def router_api(router: RouterProcess) -> observe.RouterApi:
    """The API of a router started by the harness."""
    return observe.RouterApi(f"http://127.0.0.1:{router.port}", TOKEN)


async def _remote_run(args: argparse.Namespace, options: LoadOptions) -> int:
    api = None
    if args.router_url:
        token = os.environ.get(args.router_token_env)
        if not token:
            raise HarnessError(f"--router-url needs the API token in ${args.router_token_env}")
        api = observe.RouterApi(args.router_url.rstrip("/"), token)
    result = await run_load(options, router=api)
    _print(result.table(), args.format, result.to_json())
    return 0 if result.failed == 0 and not result.lost else 1


def where(args: argparse.Namespace) -> tuple[bool, str, str]:
    """(the sandbox?, the PBX's SIP host:port, our IP): without ``--target``, the sandbox
    instance of this process ($CLINIC_ROUTER_SANDBOX_INSTANCE, instance.py)."""
    here = current().host
    sandbox = args.target in (None, f"{here}:{SIP_PORT}")
    target = args.target or f"{here}:{SIP_PORT}"
    return sandbox, target, args.local_ip or (here if sandbox else "127.0.0.1")


def main(args: argparse.Namespace) -> int:
    """Run the ``load`` subcommand; exit 0 when nothing failed and nothing was lost."""
    sandbox, target, local_ip = where(args)
    options = LoadOptions(
        rate=args.rate,
        calls=_calls(args),
        mix=load_mix(args.mix),
        operators=args.operators,
        mode=args.mode,
        target=target,
        local_ip=local_ip,
        ari=AriAccess() if sandbox else _ari(args.ari),
        keep_logs=args.keep_logs,
        ivr=not args.no_menu,
    )
    if not sandbox:
        check_sip_reachable(target, local_ip)
        return asyncio.run(_remote_run(args, options))
    with sandbox_lock():
        return asyncio.run(_sandbox_run(args, options))
