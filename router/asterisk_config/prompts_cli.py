"""`clinic-router prompts list|generate`: the prompts the rules and the router play.

`list` shows each prompt per language with the words it should say and whether the PBX
has it (asked over ARI; `--offline` skips that). `generate --out DIR` speaks every prompt
whose words are known into `DIR/<language>/<name>.wav` with espeak-ng, for a first day
before real recordings; copy DIR's folders into Asterisk's sounds folder
(/usr/share/asterisk/sounds on Debian). Exit codes: 0 done, 1 prompts missing on the PBX
(list) or left without words (generate), 2 bad settings or rules.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from router.ari.errors import AriError, AriNotFound
from router.ari.transport import AriHttp
from router.asterisk_config.cli import add_env_file_argument, inputs_of
from router.asterisk_config.prompt_words import PROMPT_WORDS
from router.asterisk_config.prompts import prompts_used
from router.asterisk_config.prompts_tts import speak_missing, tts_missing
from router.config.settings import Settings


def add_prompts_parser(subparsers: Any, default_config: str) -> None:
    parser = subparsers.add_parser("prompts", help="the prompts the rules use: list, generate")
    sub = parser.add_subparsers(dest="prompts_command", required=True)
    listing = sub.add_parser("list", help="each prompt per language, its words, on the PBX?")
    listing.add_argument("--offline", action="store_true", help="do not ask the PBX")
    generate = sub.add_parser("generate", help="speak the prompts with espeak-ng into a folder")
    generate.add_argument("--out", required=True, help="folder: <out>/<language>/<name>.wav")
    for command in (listing, generate):
        command.add_argument("--config", default=default_config, help="settings (router.yaml)")
        add_env_file_argument(command)


def words(name: str, language: str) -> str | None:
    return PROMPT_WORDS.get(name, {}).get(language)


async def pbx_languages(
    settings: Settings, names: Sequence[str]
) -> tuple[dict[str, set[str]] | None, str]:
    """name -> languages the PBX has it in (None and why, when ARI cannot be asked)."""
    ari = settings.ari
    found: dict[str, set[str]] = {}
    async with aiohttp.ClientSession() as session:
        http = AriHttp(
            session, ari.url, ari.username, ari.password.get_secret_value(), ari.request_timeout_s
        )
        for name in names:
            try:
                data = await http.request("GET", ("sounds", name))
            except AriNotFound:
                found[name] = set()
                continue
            except AriError as exc:
                return None, str(exc)
            formats = (data or {}).get("formats") or []
            found[name] = {str(f.get("language")) for f in formats if isinstance(f, dict)}
    return found, ""


def render_list(
    needed: Mapping[str, Sequence[str]], on_pbx: Mapping[str, set[str]] | None
) -> tuple[str, int]:
    """The listing, and how many (prompt, language) pairs the PBX lacks."""
    lines, missing = [], 0
    for name, languages in needed.items():
        for lang in languages:
            if on_pbx is None:
                mark = "?"
            elif lang in on_pbx.get(name, set()):
                mark = "on PBX"
            else:
                mark, missing = "MISSING", missing + 1
            said = words(name, lang) or "(your own recording: no words known)"
            lines.append(f"{mark:8} {lang:3} {name}: {said}")
    return "\n".join(lines) + "\n", missing


async def run_prompts(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    inputs = inputs_of(args, err)
    if inputs is None:
        return 2
    settings, rules = inputs
    needed = prompts_used(settings, rules)
    if args.prompts_command == "list":
        on_pbx, why = (None, "") if args.offline else await pbx_languages(settings, list(needed))
        text, missing = render_list(needed, on_pbx)
        out.write(text)
        if why:
            print(f"the PBX was not asked: {why}", file=err)
        return 1 if missing else 0
    return generate(needed, Path(args.out), out, err)


def generate(needed: Mapping[str, Sequence[str]], folder: Path, out: TextIO, err: TextIO) -> int:
    reason = tts_missing()
    if reason is not None:
        print(reason, file=err)
        return 2
    wanted, unknown = [], []
    for name, languages in needed.items():
        for lang in languages:
            said = words(name, lang)
            if said is None:
                unknown.append(f"{lang}/{name}")
            else:
                wanted.append((name, lang, said))
    written = speak_missing(wanted, lambda lang: folder / lang, lambda text: print(text, file=out))
    print(f"{len(written)} prompts written under {folder}", file=out)
    if unknown:
        print("no words known, record these yourself: " + ", ".join(unknown), file=out)
    return 1 if unknown else 0
