"""Routing cost per expired offer with 100 and with 10,000 installers serving the lead's area,
on PostgreSQL, in one run (#21: the same cost whatever the number of installers).

    python bench/routing_scale.py [--few 100] [--many 10000] [--offers 200] [--history 10000]

For each network size a fresh database gets, as ``bench/sweep_scale.py`` builds it, the
installers (all serving Paris and its suburbs, a few with caps), ``--history`` past offers and
``--offers`` offers whose deadline just passed; a fresh process then runs the sweep's offers
job (only that one), which expires each offer and offers its lead to the next installer (choice of the
candidate, routing decision, offer email queued). Prints, per expired offer, the sweep
process's CPU, its statements (round trips) and the wall time, for both sizes, and the ratio
many/few (aim: flat, ratio near 1). ``BENCH_PROFILE=offers`` prints a profile of the offers job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep_scale import run_size  # noqa: E402
from topology import PostgresCluster, machine, missing_binaries  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--few", type=int, default=100, help="installers in the area, small")
    parser.add_argument("--many", type=int, default=10_000, help="installers in the area, large")
    parser.add_argument("--offers", type=int, default=200, help="due open offers")
    parser.add_argument("--history", type=int, default=10_000, help="past offers")
    args = parser.parse_args()
    # Only the offers job is run (the others, digests or the tier recompute of 10,000
    # installers, are measured by bench/sweep_scale.py).
    os.environ["BENCH_JOBS"] = "offers"
    missing = missing_binaries(redis=False)
    if missing:
        print("missing: " + "; ".join(missing), file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    root = Path(tempfile.mkdtemp(prefix="mailflow-bench-routing-"))
    due = datetime.now(UTC).replace(microsecond=0)
    pg = PostgresCluster()
    results = {}
    try:
        pg.start()
        for installers in (args.few, args.many):
            results[installers] = run_size(
                pg, root, args.history, 0, args.offers, due, installers=installers
            )
    finally:
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)
    rows = []
    for installers in (args.few, args.many):
        wall, done, cpu, statements = results[installers]["due"]["offers"]
        done = max(done, 1)
        rows.append((wall / done * 1000, cpu / done * 1000, statements / done, done))
    (few_wall, few_cpu, few_st, few_n), (many_wall, many_cpu, many_st, many_n) = rows
    print()
    print(f"per expired offer (offers job)      {args.few:>8,}  {args.many:>8,}  ratio")
    print(f"                                    {'install.':>8}  {'install.':>8}")
    for label, a, b, unit in (
        ("sweep process CPU", few_cpu, many_cpu, "ms"),
        ("wall (PostgreSQL included)", few_wall, many_wall, "ms"),
        ("statements (round trips)", few_st, many_st, ""),
    ):
        print(
            f"{label:34}  {a:6.1f}{unit:2}  {b:6.1f}{unit:2}  {b / a if a else float('nan'):5.2f}"
        )
    print(f"acted on: {few_n} / {many_n} expired offers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
