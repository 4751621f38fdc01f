"""``audittrail verify``: the database against its signed digests, or a copy of the trail on disk
against the digests it holds (``--files``), printing every problem; exit 0 only when clean."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from api import integrity
from api.db import Database

err = Console(stderr=True)


def verify(
    account: Annotated[str | None, typer.Option(help="Only this account (database mode).")] = None,
    from_time: Annotated[
        datetime | None, typer.Option("--from", help="Recording time to start at, ISO 8601 (UTC unless given).")
    ] = None,
    to_time: Annotated[datetime | None, typer.Option("--to", help="Recording time to stop before.")] = None,
    files: Annotated[
        Path | None, typer.Option(help="Verify this directory (NDJSON / JSON bodies) instead of the database.")
    ] = None,
    public_key: Annotated[
        list[Path] | None, typer.Option(help="PEM file of trusted public keys (with --files; repeatable).")
    ] = None,
) -> None:
    """Recompute event hashes and Merkle roots, check the digest chain and signatures, report each problem."""
    time_range = integrity.TimeRange(_utc(from_time), _utc(to_time))
    if files is not None:
        report = _verify_copy(files, public_key or [], time_range)
    else:
        if public_key:
            err.print(
                "[red]error:[/red] --public-key goes with --files; the database is checked with the service's keys"
            )
            raise typer.Exit(2)
        report = _verify_database(account, time_range)
    print_report(report)
    raise typer.Exit(0 if report.is_clean else 1)


def _verify_copy(directory: Path, key_files: list[Path], time_range: integrity.TimeRange) -> integrity.VerifyReport:
    if not key_files:
        err.print("[red]error:[/red] --files needs --public-key FILE (from auditTrailDigestPublicKeys)")
        raise typer.Exit(2)
    if not directory.is_dir():
        err.print(f"[red]error:[/red] {escape(str(directory))} is not a directory")
        raise typer.Exit(2)
    try:
        keys = [key for path in key_files for key in integrity.load_public_keys(path.read_text())]
    except (OSError, ValueError) as error:
        err.print(f"[red]error:[/red] cannot read the public keys: {escape(str(error))}")
        raise typer.Exit(2) from None
    return integrity.verify_files(directory, {key.key_id: key for key in keys}, time_range)


def _verify_database(account: str | None, time_range: integrity.TimeRange) -> integrity.VerifyReport:
    # Imported here: api.cli registers this command, so importing it at the top would be circular.
    from api.cli import backing_servers, run_with_database

    with backing_servers() as (settings, _):
        keys = integrity.KeyRing.from_settings(settings).by_id()

        async def run(db: Database) -> integrity.VerifyReport:
            accounts = await integrity.accounts_to_verify(db, account)
            if account and not accounts:
                err.print(f"[red]error:[/red] account {escape(account)!r} does not exist")
                raise typer.Exit(2)
            return await integrity.verify_database(db, accounts, keys, time_range)

        return run_with_database(settings, run)


def _utc(moment: datetime | None) -> datetime | None:
    """Times without a zone are UTC, as everywhere in the service."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def print_report(report: integrity.VerifyReport) -> None:
    """One tab-separated line per problem (kind, id, account, detail), then the totals."""
    for problem in sorted(report.problems):
        typer.echo(f"{problem.kind.value}\t{problem.subject_id}\t{problem.account}\t{problem.detail}")
    until = f" up to {report.verified_until:%Y-%m-%dT%H:%M:%SZ}" if report.verified_until else ""
    typer.echo(
        f"checked {report.digests_checked} digests and {report.events_checked} events{until};"
        f" {len(report.expired_event_ids)} expired by retention, {report.pending_events} not digested yet"
    )
    typer.echo("clean" if report.is_clean else f"{len(report.problems)} problems")
