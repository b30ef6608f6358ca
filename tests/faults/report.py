"""Run every fault campaign and print one table; --long for the deep run.

python -m tests.faults.report            # the bounded sizes CI runs
python -m tests.faults.report --long     # the deep run (>= 2,000 syscall faults, 1,000 kills)
python -m tests.faults.report --long --write docs/reliability.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from types import ModuleType

from tests.faults import (
    cli_fuzz,
    fuzz,
    hostile,
    kills,
    model,
    order,
    races,
    redis_failovers,
    redis_faults,
    soak,
    syscalls,
    turns,
    values,
)
from tests.faults.common import Result

# Every campaign, in the report's order (tests/faults/test_campaigns.py runs the same).
CAMPAIGNS: tuple[ModuleType, ...] = (
    syscalls,
    order,
    kills,
    fuzz,
    model,
    soak,
    hostile,
    races,
    values,
    redis_faults,
    redis_failovers,
    cli_fuzz,
    turns,
)


def name(campaign: ModuleType) -> str:
    """A campaign's short name: its module's."""
    return campaign.__name__.rsplit(".", 1)[-1]


def table(results: list[Result]) -> str:
    """The markdown table of campaign results."""
    lines = [
        "| campaign | cases tried | survived | lost writes | corrupt files | run time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.campaign} | {r.cases:,} | {r.survived:,} | {r.lost_writes} | "
            f"{r.corrupt_files} | {r.seconds:.0f} s |"
        )
    total = Result("**total**")
    for r in results:
        total.cases += r.cases
        total.survived += r.survived
        total.lost_writes += r.lost_writes
        total.corrupt_files += r.corrupt_files
        total.seconds += r.seconds
    lines.append(
        f"| **total** | {total.cases:,} | {total.survived:,} | {total.lost_writes} | "
        f"{total.corrupt_files} | {total.seconds:.0f} s |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--long", action="store_true", help="the deep run")
    parser.add_argument("--write", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    results = []
    for campaign in CAMPAIGNS:
        print(f"running {name(campaign)} ...", file=sys.stderr, flush=True)
        kwargs = {"long": args.long} if "long" in campaign.run.__code__.co_varnames else {}
        results.append(campaign.run(**kwargs))
    command = "python -m tests.faults.report" + (" --long" if args.long else "")
    body = [
        f"Measured {time.strftime('%Y-%m-%d')} with `{command}` on {platform.machine()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        "",
        table(results),
        "",
        "Notes:",
        "",
    ]
    for r in results:
        for note in r.notes:
            body.append(f"- {r.campaign}: {note}")
        for failure in r.failures[:10]:
            body.append(f"- **{r.campaign} FAILED**: {failure}")
    text = "\n".join(body)
    print(text)
    if args.write:
        args.write.write_text(
            args.write.read_text().split("<!-- report -->")[0]
            + "<!-- report -->\n\n"
            + text
            + "\n"
        )
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
