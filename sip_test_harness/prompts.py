"""The example clinic's voice prompts, generated offline for the sandbox and the demo.

A real clinic records its own prompts (docs/rules.md, "Prompts"); the sandbox speaks
the example rules' prompts with espeak-ng, resampled by sox to 8 kHz mono 16-bit WAV,
which Asterisk plays without transcoding surprises. Nothing needs the network. The words
and the speaking are the product's (`clinic-router prompts generate`, router/asterisk_config).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from router.asterisk_config.prompt_words import PROMPT_WORDS
from router.asterisk_config.prompts_tts import speak_missing, tts_missing

# name -> language -> text: shared with `clinic-router prompts` (router/asterisk_config)
DEMO_PROMPTS: dict[str, dict[str, str]] = PROMPT_WORDS


def prompts_missing() -> str | None:
    """Why prompts cannot be generated here (None: they can)."""
    reason = tts_missing()
    return reason and reason.replace("apt-get install espeak-ng sox", "make deps installs it")


def install_prompts(
    lang_dir: Callable[[str], Path], progress: Callable[[str], None] = print
) -> int:
    """Write every missing demo prompt as `<lang_dir(lang)>/<name>.wav`; returns how many
    were made. Existing files (a clinic's own recordings) are never overwritten."""
    if prompts_missing() is not None and any(
        not (lang_dir(lang) / f"{name}.wav").exists()
        for name, texts in DEMO_PROMPTS.items()
        for lang in texts
    ):
        progress(f"demo prompts not generated: {prompts_missing()}; menus will be silent")
        return 0
    wanted = [
        (name, lang, text) for name, texts in DEMO_PROMPTS.items() for lang, text in texts.items()
    ]
    return len(speak_missing(wanted, lang_dir, progress))
