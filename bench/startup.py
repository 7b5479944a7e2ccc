"""Start-up time of the ``mailflow`` command (#21: ``--help`` and ``status`` under 0.15 s).

    python bench/startup.py [--runs 10] [--postgres] [--src DIR]

Wall time of whole processes, best and median of ``--runs`` runs each, and their ratio to a
bare ``python -c pass`` measured in the same run:

- ``python -c pass`` (the floor: the interpreter and site-packages),
- ``mailflow --help``,
- ``mailflow status`` on a fresh SQLite database (``mailflow db upgrade`` first, in a
  temporary directory), and with ``--postgres`` on a throw-away PostgreSQL cluster,
- ``mailflow run --help``;

then how many modules ``--help`` and ``status`` leave in ``sys.modules`` (beyond the bare
interpreter's) and whether SQLAlchemy, FastAPI, Dramatiq or pydantic are among them.

``--src DIR`` runs the ``mailflow`` package found in DIR instead of this checkout's (e.g. a
``git archive`` of an older commit, to measure "before"); a command that version lacks is
shown as "n/a".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from topology import PostgresCluster, machine, missing_binaries  # noqa: E402

SRC = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy", "fastapi", "dramatiq", "pydantic", "alembic")


def prelude(src: Path) -> str:
    """Python that makes ``import mailflow`` find the package in ``src`` (also past an editable
    install's finder), as the ``mailflow`` console script imports it."""
    return (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if '_editable' not in type(f).__module__]\n"
        f"sys.path.insert(0, {str(src)!r})\n"
    )


def mailflow_command(src: Path) -> list[str]:
    """``mailflow`` as its console script runs it: ``sys.exit(main())``."""
    code = prelude(src) + "from mailflow.cli import main\nsys.exit(main())\n"
    return [sys.executable, "-c", code]


def timed(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> tuple[list[float], int]:
    times, code = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - started)
        code = done.returncode
    return times, code


def modules(src: Path, args: list[str], env: dict[str, str], cwd: Path) -> dict:
    code = prelude(src) + (
        "import json\n"
        "before = set(sys.modules)\n"
        "from mailflow.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps({{'count': len(sys.modules), "
        f"'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--postgres", action="store_true", help="also status on PostgreSQL")
    parser.add_argument(
        "--src", type=Path, default=SRC, help="run the mailflow package found in DIR"
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mailflow-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env["MAILFLOW_DATA_DIR"] = str(root / "data")
    src = args.src.resolve()
    mailflow = mailflow_command(src)
    upgraded = subprocess.run(
        [*mailflow, "db", "upgrade"], env=env, cwd=root, capture_output=True, text=True
    )
    if upgraded.returncode != 0:
        sys.exit(f"mailflow db upgrade failed:\n{upgraded.stderr}")
    has_status = (
        subprocess.run([*mailflow, "status", "--help"], env=env, cwd=root, capture_output=True)
    ).returncode == 0

    cases: list[tuple[str, list[str], dict[str, str]]] = [
        ("python -c pass", [sys.executable, "-c", "pass"], env),
        ("mailflow --help", [*mailflow, "--help"], env),
        ("mailflow status (SQLite)", [*mailflow, "status"], env),
    ]
    cluster = None
    if args.postgres:
        missing = missing_binaries(redis=False)
        if missing:
            sys.exit(f"--postgres: missing {', '.join(missing)}")
        cluster = PostgresCluster()
        cluster.start()
        pg_env = {**env, "MAILFLOW_DATABASE_URL": cluster.create_database("startup")}
        subprocess.run([*mailflow, "db", "upgrade"], env=pg_env, cwd=root, check=True)
        cases.append(("mailflow status (PostgreSQL)", [*mailflow, "status"], pg_env))
    cases.append(("mailflow run --help", [*mailflow, "run", "--help"], env))

    print(machine())
    print(f"code: {src}; {args.runs} runs each; wall time of the process")
    print(f"{'command':<30}{'best':>8}{'median':>8}{'x bare':>8}  exit")
    bare = None
    try:
        for name, argv, case_env in cases:
            if name.startswith("mailflow status") and not has_status:
                print(f"{name:<30}{'n/a':>8}")
                continue
            times, code = timed(argv, case_env, root, args.runs)
            best, median = min(times), statistics.median(times)
            bare = bare or median
            print(f"{name:<30}{best:>8.3f}{median:>8.3f}{median / bare:>8.1f}  {code}")
    finally:
        if cluster is not None:
            cluster.destroy()

    floor = json.loads(
        subprocess.run(
            [sys.executable, "-c", "import json, sys; print(json.dumps(len(sys.modules)))"],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout
    )
    print(f"\nmodules in sys.modules (bare interpreter: {floor})")
    for label, argv in [
        ("--help", ["--help"]),
        ("status", ["status"]),
        ("run --help", ["run", "--help"]),
    ]:
        if label == "status" and not has_status:
            continue
        seen = modules(src, argv, env, root)
        heavy = ", ".join(seen["heavy"]) or "none"
        print(
            f"  mailflow {label:<12} {seen['count']:>5} (+{seen['count'] - floor}); of {', '.join(HEAVY)}: {heavy}"
        )


if __name__ == "__main__":
    main()
