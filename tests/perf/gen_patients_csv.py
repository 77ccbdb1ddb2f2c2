"""Generate a large patient CSV for measuring `clinic-router patients import` (not a test).

    .venv/bin/python tests/perf/gen_patients_csv.py 1000000 > /tmp/patients-1m.csv
    clinic-router patients import /tmp/patients-1m.csv --config ...

Deterministic (row i is always the same). Every column is used: every tenth patient
shares its mobile with the previous one (a family line), a third have a landline too,
most have a last contact and 0-3 appointments (~1.5 on average), phones are written in
the notations people type. `--bad-every N` makes every Nth row invalid (a bad date, a
bad year or a bad phone, in turn) to exercise the rejection report.
"""

from __future__ import annotations

import argparse
import csv
import sys

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])

from router.storage.patients_csv import COLUMNS

DOCTORS = ("Dr Ivanov", "Др Петрова", "Dr Sidorov", "Др Кузнецова", "Dr Smirnov")
BRANCHES = ("moscow", "khimki", "centre", "north")
TAGS = ("dms", "oms", "vip", "checkup", "post-op")
CATEGORIES = ("dms", "paid", "results", "booking")
OUTCOMES = ("booked", "answered", "callback", "cancelled")


def row(i: int) -> list[str]:
    mobile = 9_000_000 + (i - (i % 10 == 9))
    phones = [f"8 916 {mobile // 10000:03d}-{mobile % 10000 // 100:02d}-{mobile % 100:02d}"]
    if i % 3 == 0:
        phones.append(f"+7 (495) {i:07d}")
    visits = [
        f"2026-12-{1 + (i + k) % 28:02d}T{8 + (i * 7 + k) % 11:02d}:{(i % 4) * 15:02d}"
        f"|{DOCTORS[(i + k) % 5]}|{BRANCHES[(i + k) % 4]}"
        for k in range(i % 4)
    ]
    contact = i % 5 != 0
    values = {
        "patient_id": f"P{i:08d}",
        "name": f"Пациент Тестовый {i}",
        "phones": ";".join(phones),
        "assigned_operator": f"op{1000 + i % 24}" if i % 4 == 0 else "",
        "team": ("adults", "children")[i % 2],
        "tags": ";".join(TAGS[j] for j in range(5) if (i >> j) % 3 == 0),
        "language": "en" if i % 50 == 0 else "ru",
        "preferred_branch": BRANCHES[i % 4],
        "do_not_call": "1" if i % 97 == 0 else "",
        "birth_year": str(1940 + i % 85),
        "last_contact_at": f"2026-{1 + i % 11:02d}-{1 + i % 28:02d}T{9 + i % 9:02d}:30"
        if contact
        else "",
        "last_contact_operator": f"op{1000 + i % 24}" if contact else "",
        "last_contact_category": CATEGORIES[i % 4] if contact else "",
        "last_contact_outcome": OUTCOMES[i % 4] if contact else "",
        "appointments": ";".join(visits),
    }
    return [values[c] for c in COLUMNS]


def spoil(values: list[str], i: int) -> list[str]:
    kind = i % 3
    column = ("appointments", "birth_year", "phones")[kind]
    values[COLUMNS.index(column)] = ("2026-02-30T10:00", "19x4", "not-a-phone")[kind]
    return values


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=int)
    parser.add_argument("--bad-every", type=int, default=0, metavar="N")
    args = parser.parse_args()
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(args.rows):
        values = row(i)
        if args.bad_every and i % args.bad_every == args.bad_every - 1:
            values = spoil(values, i // args.bad_every)
        writer.writerow(values)


if __name__ == "__main__":
    main()
