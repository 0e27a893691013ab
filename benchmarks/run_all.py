"""Run every benchmark and print one table: each figure against a baseline measured in the same run.

    python benchmarks/run_all.py               # the full run (about 5 minutes on 2 cores)
    python benchmarks/run_all.py --quick       # fewer repeats
    python benchmarks/run_all.py --only streaming,accounting
    python benchmarks/run_all.py --readme      # also write the table into benchmarks/README.md

Each benchmark runs as its own process (`benchmarks/bench_*.py --json PATH`), so one's imports, threads and
memory never colour another's figures, and each script can be run alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _harness import Result, table

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("startup", "first_remote", "cell_overhead", "streaming", "accounting", "embedded", "attention", "memory",
              "map", "compare", "load")
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def run_one(name: str, quick: bool) -> tuple[list[Result], str | None]:
    """Run benchmarks/bench_NAME.py in its own process; (results, error text or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, str(HERE / f"bench_{name}.py"), "--json", str(out)]
        if quick:
            command.append("--quick")
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # progress (stderr) shows live
        if proc.returncode != 0 or not out.exists():
            return [], f"bench_{name}.py failed with exit code {proc.returncode}"
        return [Result.from_json(item) for item in json.loads(out.read_text())], None


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()},"
            f" load average {load:.2f} at the start")


def write_readme(results: list[Result], command: str, elapsed: float, about: str) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join([
        START,
        f"Latest run: `{command}` on {stamp}; {about}; {elapsed / 60:.1f} minutes.",
        "",
        table(results, markdown=True),
        END,
    ])
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    README.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = parser.parse_args()
    chosen = [b.strip() for b in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    about = machine()
    started = time.monotonic()
    results: list[Result] = []
    failures: list[str] = []
    for name in chosen:
        print(f"[{name}]", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        found, error = run_one(name, args.quick)
        results += found
        if error:
            failures.append(error)
        print(f"[{name}] {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started
    print()
    print(table(results))
    print(f"\n{about}; {elapsed:.0f} s in all")
    for failure in failures:
        print(f"FAILED: {failure}")
    if args.readme and not failures:
        command = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
        command += f" --only {args.only}" if args.only else ""
        write_readme(results, command, elapsed, about)
        print(f"wrote {README.relative_to(HERE.parent)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
