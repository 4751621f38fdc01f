"""The ``audittrail`` command: serve, worker, migrate, accounts, keys, retention, export-schema, listen.

What it changes (accounts, keys, retention runs) is audited as ``cli::<OS user>`` (``api.operator``).

Every command that needs the database uses ``DATABASE_URL``/``REDIS_URL`` when set and starts
(or joins) the embedded servers under the data dir when not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from arq.connections import ArqRedis
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from api import operator, serving
from api.accounts import accounts as account_store
from api.accounts import keys as key_store
from api.accounts.bootstrap import ensure_first_account
from api.audit.facts import Audited
from api.audit.retention import DEFAULT_BATCH_SIZE, RetentionReport, apply_retention
from api.audit.search import count_events
from api.db import Database
from api.embedded import EmbeddedExtraMissing, EmbeddedServers, start_servers
from api.errors import AppError
from api.export.formats import ExportFormat
from api.migrate import upgrade_database
from api.observability import prepare_multiprocess_dir
from api.settings import Settings
from api.verify_command import verify
from api.webhooks import connect_queue

# No local variables in crash reports: they may hold secrets (a webhook's, a key's) and end up in logs.
app = typer.Typer(
    help="Audit trail service.", no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False
)
accounts_app = typer.Typer(help="Manage accounts (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
retention_app = typer.Typer(help="Remove events older than their account's retention.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(retention_app, name="retention")
app.command()(verify)

out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error is one line, whatever the terminal: logs and grep read it whole
T = TypeVar("T")
API_PROCESS_HEALTHCHECK_SECONDS = 30
"""How long uvicorn waits for an API process to answer its supervisor before replacing it."""
API_KEEP_ALIVE_SECONDS = 75
"""How long an idle client connection is kept open.  uvicorn's 5 s default closes connections that
clients and load balancers (60 s idle by default on AWS's) still count on: a request sent as the
server closes its connection is reset unanswered (the load test saw 5 in 252 on a loaded machine).
Longer than a balancer's idle timeout, the balancer always closes first."""


@contextmanager
def backing_servers() -> Iterator[tuple[Settings, EmbeddedServers]]:
    """Settings pointing at running servers, embedded ones started (and stopped) as needed.

    The resolved URLs and secret key go into the environment so that child processes (uvicorn
    workers, the arq worker) see the same servers without starting their own.
    """
    settings = Settings()
    try:
        servers = start_servers(settings.data_dir, settings.database_url, settings.redis_url)
    except EmbeddedExtraMissing as error:
        err.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    try:
        embedded = settings.is_embedded
        secret_key = settings.resolved_secret_key()
        os.environ["DATABASE_URL"] = servers.database_url
        os.environ["REDIS_URL"] = servers.redis_url
        os.environ["AUDITTRAIL_SECRET_KEY"] = secret_key
        if embedded and settings.allow_private_endpoints is None:
            os.environ["AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS"] = "true"
        yield Settings(), servers
    finally:
        servers.stop()


def run_with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run async work against the database; domain errors become a clear exit 1."""
    assert settings.database_url is not None

    async def main() -> T:
        db = Database(settings.database_url or "", pool_size=1)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except AppError as error:
        err.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(1) from None


def run_with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Like ``run_with_database``, for one unit of work in one transaction."""

    async def in_transaction(db: Database) -> T:
        async with db.transaction() as session:
            return await work(session)

    return run_with_database(settings, in_transaction)


def run_with_queue(settings: Settings, change: Callable[[Database, ArqRedis], Awaitable[T]]) -> T:
    """Like ``run_with_database``, with the queue the recorded events' deliveries are enqueued on."""
    assert settings.redis_url is not None
    redis_url = settings.redis_url

    async def with_queue(db: Database) -> T:
        queue = await connect_queue(redis_url)
        try:
            return await change(db, queue)
        finally:
            await queue.aclose()

    return run_with_database(settings, with_queue)


@app.command()
def migrate() -> None:
    """Apply database migrations (safe to run again)."""
    with backing_servers() as (settings, _):
        assert settings.database_url is not None
        upgrade_database(settings.database_url)
        out.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API processes.")] = 1,
    with_worker: Annotated[bool, typer.Option("--with-worker/--no-worker", help="Run the arq worker too.")] = True,
) -> None:
    """Run the API (and the delivery worker beside it) until Ctrl-C."""
    import uvicorn

    problem = serving.port_problem(host, port)
    if problem is not None:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(1)
    with backing_servers() as (settings, servers):
        assert settings.database_url is not None
        upgrade_database(settings.database_url)
        created = run_with_session(
            settings, lambda session: ensure_first_account(session, retention_days=settings.default_retention_days)
        )
        if created is not None:
            out.print("[bold]Created account 'default' and its first ADMIN API key (shown only this once):[/bold]")
            out.print(f"  key id:     {created.key.id}")
            out.print(f"  key secret: {created.secret}", highlight=False)
        else:
            another = f"{serving.own_command()} keys create --account default --role ADMIN --name NAME"
            out.print(f"Another key: {another}", highlight=False, soft_wrap=True)
        if servers.postgres is not None or servers.redis is not None:
            out.print(f"Data dir: {settings.data_dir.resolve()}", highlight=False, soft_wrap=True)
        if not settings.commit_sha:
            os.environ["AUDITTRAIL_COMMIT_SHA"] = serving.checkout_commit()  # for debugInfo, in every child process
        worker = serving.start_worker_process() if with_worker else None
        prepare_multiprocess_dir(settings.data_dir, processes=workers)  # after the worker: it reports alone
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - display only
        out.print(f"Console:  http://{shown_host}:{port}/", highlight=False)
        out.print(f"GraphiQL: http://{shown_host}:{port}/graphql", highlight=False)
        # uvicorn re-raises the signal it stopped on once it has shut down; SIGTERM's default action
        # would then kill us before the worker and the embedded servers are stopped.
        signal.signal(signal.SIGTERM, serving.exit_on_sigterm)
        try:
            uvicorn.run(
                "api.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                # uvicorn's supervisor replaces an API process that does not answer its health check in
                # time (5 s by default): on a loaded machine a child still importing the app and opening
                # its pools took longer, and was killed and restarted over and over.
                timeout_worker_healthcheck=API_PROCESS_HEALTHCHECK_SECONDS,
                timeout_keep_alive=API_KEEP_ALIVE_SECONDS,
                log_level=settings.log_level.lower(),
                # X-Forwarded-For/-Proto only from trusted proxies: a token's aud is built from the scheme.
                proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
            )
        finally:
            if worker is not None:
                serving.stop_process(worker)


@app.command()
def worker() -> None:
    """Run the arq worker alone: deliveries, sweeper, partitions and retention crons."""
    from workers.settings import run_worker

    with backing_servers() as (settings, _):
        run_worker(settings)


@accounts_app.command("create")
def accounts_create(name: Annotated[str, typer.Argument(help="Subdomain-style name, e.g. acme.")]) -> None:
    """Create an account."""
    try:
        account_store.validate_account_name(name)
    except AppError as error:
        err.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(2) from None
    with backing_servers() as (settings, _):
        days = settings.default_retention_days
        account = run_with_queue(
            settings,
            lambda db, queue: operator.run_audited(
                db,
                queue,
                operator.CREATE_ACCOUNT,
                {"name": name},
                lambda session: account_store.create(session, name=name, retention_days=days),
                account_of=lambda created: created.id,
            ),
        )
        out.print(f"created account {account.name} ({account.id})")


@accounts_app.command("list")
def accounts_list() -> None:
    """List accounts with their retention."""

    async def rows(session: AsyncSession) -> list[tuple[str, str, str]]:
        return [(a.name, a.id, str(a.retention_days)) for a in await account_store.list_accounts(session)]

    with backing_servers() as (settings, _):
        table = Table("name", "id", "retention days")
        for row in run_with_session(settings, rows):
            table.add_row(*row)
        out.print(table)


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option(help="Account name.")],
    role: Annotated[str, typer.Option(help="ADMIN, READER or SERVICE.")],
    name: Annotated[str, typer.Option(help="What the key is for.")],
) -> None:
    """Create an API key; its secret is printed once."""
    try:
        parsed_role = key_store.parse_role(role)
    except AppError as error:
        err.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(2) from None

    async def create(session: AsyncSession) -> Audited[key_store.CreatedKey]:
        found = await account_store.get_account(session, account)
        return await key_store.create(session, found.id, name=name, role=parsed_role)

    args = {"account": account, "name": name, "role": parsed_role.value}
    with backing_servers() as (settings, _):
        created = run_with_queue(
            settings,
            lambda db, queue: operator.run_audited(
                db, queue, operator.CREATE_KEY, args, create, account_of=lambda new: new.key.account_id
            ),
        )
        out.print(f"key id:     {created.key.id}")
        out.print(f"key secret: {created.secret}", highlight=False)
        out.print("The secret is shown only now; store it safely.")


@keys_app.command("list")
def keys_list(account: Annotated[str | None, typer.Option(help="Only this account.")] = None) -> None:
    """List API keys (never their secrets)."""

    async def rows(session: AsyncSession) -> list[tuple[str, str, str, str, str]]:
        account_id = (await account_store.get_account(session, account)).id if account else None
        names = {a.id: a.name for a in await account_store.list_accounts(session)}
        return [
            (
                key.id,
                names.get(key.account_id, "?"),
                key.name,
                key.role,
                "revoked" if key.revoked_at else "active",
            )
            for key in await key_store.list_keys(session, account_id)
        ]

    with backing_servers() as (settings, _):
        table = Table("id", "account", "name", "role", "state")
        for row in run_with_session(settings, rows):
            table.add_row(*row)
        out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Key id.")]) -> None:
    """Revoke an API key; its tokens stop working at once."""
    with backing_servers() as (settings, _):
        key = run_with_queue(
            settings,
            lambda db, queue: operator.run_audited(
                db,
                queue,
                operator.REVOKE_KEY,
                {"id": key_id},
                lambda session: key_store.revoke_any(session, key_id=key_id),
                account_of=lambda revoked: revoked.account_id,
            ),
        )
        out.print(f"revoked key {key.id} ({key.name})")


@app.command()
def listen(
    secret: Annotated[
        str, typer.Option(envvar="AUDITTRAIL_LISTEN_SECRET", help="The webhook secret to check signatures with.")
    ],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    count: Annotated[int | None, typer.Option(min=1, help="Exit after this many deliveries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per delivery, with its body.")] = False,
    headers: Annotated[bool, typer.Option("--headers", help="Print each delivery's request headers too.")] = False,
) -> None:
    """Receive webhook deliveries locally: print each one and whether its signatures verify."""
    from api.listen import run_listener

    exit_code = run_listener(host=host, port=port, secret=secret, count=count, as_json=as_json, show_headers=headers)
    raise typer.Exit(exit_code)


@retention_app.command("run")
def retention_run(
    batch_size: Annotated[int, typer.Option(min=1, help="Rows deleted per transaction.")] = DEFAULT_BATCH_SIZE,
) -> None:
    """Remove expired events and their deliveries now (the worker does this hourly); print what went."""

    with backing_servers() as (settings, _):
        default_days = settings.default_retention_days

        async def run(db: Database, queue: ArqRedis) -> RetentionReport:
            applied = await apply_retention(db, default_retention_days=default_days, batch_size=batch_size)
            await operator.record_retention_run(db, queue, applied, batch_size=batch_size)
            return applied

        report = run_with_queue(settings, run)
    out.print(f"partitions older than {report.cutoff_for_partitions:%Y-%m-%d %H:%M} UTC can go", highlight=False)
    out.print(f"dropped partitions: {', '.join(report.dropped_partitions) or 'none'}", highlight=False)
    if report.skipped_partitions:
        out.print(f"busy, retried next run: {', '.join(report.skipped_partitions)}", highlight=False)
    for account_name, count in report.deleted_events.items():
        out.print(f"deleted {count} events of account {account_name}", highlight=False)
    if not report.deleted_events:
        out.print("deleted 0 events row by row", highlight=False)
    out.print(f"deleted {report.deleted_deliveries} webhook deliveries", highlight=False)


@app.command("export")
def export_events(
    account: Annotated[str, typer.Option(help="The account whose events to export.")],
    export_format: Annotated[ExportFormat, typer.Option("--format", help="ndjson: the webhook bodies; csv.")] = (
        ExportFormat.NDJSON
    ),
    start: Annotated[datetime | None, typer.Option("--from", help="Oldest time, inclusive (ISO 8601, UTC).")] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="Newest time, inclusive (ISO 8601, UTC).")] = None,
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="field=value, as the search's predicates; repeatable.")
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")] = None,
) -> None:
    """Export an account's events, newest first, as the search selects them (NDJSON or CSV)."""
    from api.export import ExportQuery, prepared
    from api.export.to_file import filters_from_options, write_export

    def utc(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment

    sink_opened = open(output, "wb") if output else contextlib.nullcontext(sys.stdout.buffer)  # noqa: SIM115  # closed by the with below
    with backing_servers() as (settings, _), sink_opened as sink:

        async def run(db: Database) -> int:
            async with db.transaction() as session:
                found = await account_store.find_account(session, account)
                if found is None:
                    raise AppError(f"no account named {account!r}")
                query = prepared(
                    ExportQuery(
                        account_id=found.id,
                        filters=filters_from_options(filters or [], utc(start), utc(end)),
                        batch_size=settings.export_batch_size,
                    )
                )
                total = await count_events(session, found.id, query.filters, now=query.now or datetime.now(UTC))
            with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
                task = progress.add_task(f"exporting {account}", total=total)
                return await write_export(db, query, export_format, sink, lambda rows: progress.advance(task, rows))

        written = run_with_database(settings, run)
    err.print(f"exported {written} events" + (f" to {output}" if output else ""), highlight=False)


@app.command("export-schema")
def export_schema(
    path: Annotated[Path, typer.Option(help="Where to write the SDL.")] = Path("schema.graphql"),
) -> None:
    """Write the GraphQL schema (SDL) that CI compares with the checked-in file."""
    from api.graphql.schema import schema_sdl

    path.write_text(schema_sdl())
    out.print(f"wrote {path}")


if __name__ == "__main__":
    app()
