"""Several seeded replays of one period, as one column of figures.

One replay is one draw of who answers how fast, who talks how long and how patient a
served caller was: on a few hundred calls its service level moves by about 3 points from
seed to seed (measured on sandbox runs of 90 calls, docs/reports.md). The mean of a
few replays is the model's prediction; one replay is a sample of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def mean_figures(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Figure by figure, the mean of the runs (`calls_json` columns): numbers averaged
    over the runs that have them (None where none has), anything else from the first."""
    if not runs:
        raise ValueError("no runs to average")
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [r[key] for r in runs]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if not isinstance(first, int | float | None) or isinstance(first, bool):
            out[key] = first
        elif not numbers:
            out[key] = None
        else:
            mean = sum(numbers) / len(numbers)
            out[key] = round(mean, 4) if len(set(numbers)) > 1 else numbers[0]
    return out
