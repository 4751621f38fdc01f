"""The read benchmark judges each case by the goals its issue sets: the searches, the entry and the sidebar must
beat PostGraphile; ``{ viewer { id } }`` has its goal in ms, and PostGraphile answers another query for it."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.read import case_measurements
from bench.read_cases import Case, Figures, read_cases

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ENTRY_ID = "01KB0000000000000000000000"


def figures(latency_ms: float, per_second: float) -> Figures:
    """One system's figures: every request taking ``latency_ms``, ``per_second`` of them at concurrency."""
    return Figures(latencies_ms=[latency_ms] * 20, lean_latencies_ms=[latency_ms / 4] * 20,
                   requests=int(per_second * 10), seconds=10.0)  # fmt: skip


def judged(case: Case) -> dict[str, tuple[str, bool]]:
    """Each line's goal and whether it is met, ours slower than PostGraphile and the floor."""
    rows = {"ours": figures(5.0, 300), "PostGraphile": figures(4.0, 400), "floor": figures(3.0, 500)}
    return {line.metric.removeprefix(case.name + " "): (line.goal, line.met) for line in case_measurements(case, rows)}


def cases() -> dict[str, Case]:
    return {case.name: case for case in read_cases("acct", ENTRY_ID, NOW)}


def test_a_search_slower_than_postgraphile_misses_its_goals() -> None:
    for name in ("page of 50", "action + 7 days", "first: 10", "auditTrailEntry(id)", "suggestions (action, 7 days)"):
        lines = judged(cases()[name])
        assert lines["p50 vs PostGraphile"] == ("< PostGraphile", False), name
        assert lines["p95 vs PostGraphile"] == ("< PostGraphile", False), name
        assert lines["req/s vs PostGraphile"] == ("> PostGraphile", False), name


def test_the_viewer_is_held_to_its_ms_goal_and_reports_postgraphile_beside_it() -> None:
    lines = judged(cases()["{ viewer { id } }"])
    assert lines["p50 vs PostGraphile"] == ("(reported)", True)
    assert lines["req/s vs PostGraphile"] == ("(reported)", True)
    assert lines["p50, lean client, vs floor"] == ("<= 1.5 ms", True)  # 1.25 ms through the lean client
    slow = case_measurements(
        cases()["{ viewer { id } }"],
        {"ours": figures(8.0, 300), "PostGraphile": figures(4.0, 400), "floor": figures(3.0, 500)},
    )
    assert [(line.goal, line.met) for line in slow if "lean client, vs floor" in line.metric] == [("<= 1.5 ms", False)]
