"""Speak prompts with espeak-ng into Asterisk's layout: `<out>/<language>/<name>.wav`,
8 kHz mono 16-bit (signed linear, what Asterisk plays without transcoding surprises).

For a first day before real recordings, and for the sandbox's demo prompts. Existing
files (a clinic's own recordings) are never overwritten. Needs `espeak-ng` and `sox`
(Debian packages of the same names); nothing needs the network.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

# espeak-ng voice per Asterisk language folder
VOICES = {"ru": "ru", "en": "en-gb", "de": "de", "fr": "fr", "es": "es"}


def tts_missing() -> str | None:
    """Why prompts cannot be spoken here (None: they can)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install espeak-ng sox)"
    return None


def speak_missing(
    wanted: Iterable[tuple[str, str, str]],
    lang_dir: Callable[[str], Path],
    progress: Callable[[str], None] = print,
) -> list[Path]:
    """Write each (name, language, text) whose `<lang_dir(lang)>/<name>.wav` is missing;
    returns the files written."""
    missing = [
        (name, lang, text)
        for name, lang, text in wanted
        if not (lang_dir(lang) / f"{name}.wav").exists()
    ]
    if not missing:
        return []
    reason = tts_missing()
    if reason is not None:
        progress(f"prompts not generated: {reason}")
        return []
    progress(f"speaking {len(missing)} prompts with espeak-ng")
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        for name, lang, text in missing:
            out = lang_dir(lang) / f"{name}.wav"
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["espeak-ng", "-v", VOICES.get(lang, lang), "-s", "150", "-w", str(raw), text],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out)],
                check=True,
                capture_output=True,
            )
            written.append(out)
    return written
