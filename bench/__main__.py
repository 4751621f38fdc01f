"""``python -m bench [--quick] [--only NAME]``: every benchmark in order, one combined table, bench/results.json."""

from __future__ import annotations

import argparse
import importlib
import os

from bench.harness import Measurement, console, exit_cleanly_on_sigterm, report, save

BENCHMARKS = (
    "ingest", "search", "read", "deliver", "retention", "backlog_memory", "documents", "digests", "export", "replay",
    "live",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about a minute per benchmark instead of the full load")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only this one (repeatable)")
    parser.add_argument("--events", type=int, help="events in the digests benchmark's interval (1,000,000 full)")
    arguments = parser.parse_args()
    if arguments.events:
        os.environ["BENCH_DIGEST_EVENTS"] = str(arguments.events)
    measurements: list[Measurement] = []
    for name in arguments.only or BENCHMARKS:
        console.rule(f"bench {name}{' --quick' if arguments.quick else ''}")
        module = importlib.import_module(f"bench.{name}")
        results: list[Measurement] = module.run(arguments.quick)
        report(results)
        save(results)
        measurements.extend(results)
    console.rule("all benchmarks")
    report(measurements)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    exit_cleanly_on_sigterm()
    main()
