"""The worker is arq's own ``WorkerSettings``: the ``arq`` command runs it, each job with its own timeout."""

from __future__ import annotations

import sys
from pathlib import Path

from arq.worker import create_worker
from sqlalchemy import text

from api.models import Role
from api.settings import Settings
from api.webhooks import claim_lease_seconds
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, running_process, webhook_input, worker_environment
from tests.support.polling import poll
from workers.digests import digest_job
from workers.retention import retention_job
from workers.settings import CRON_TIMEOUT_SECONDS, DIGEST_TIMEOUT_SECONDS, RETENTION_TIMEOUT_SECONDS, WorkerSettings

ARQ = Path(sys.executable).parent / "arq"
CREATE_KEY = 'mutation { apiKeyCreate(input: {name: "ci", role: SERVICE}) { id } }'


async def test_arq_builds_a_worker_from_worker_settings_with_a_timeout_per_job() -> None:
    worker = create_worker(WorkerSettings, handle_signals=False)
    try:
        timeouts = {name: function.timeout_s for name, function in worker.functions.items()}
        [retention] = [job for job in worker.cron_jobs if job.coroutine is retention_job]
        [digests] = [job for job in worker.cron_jobs if job.coroutine is digest_job]
    finally:
        await worker.close()

    # WorkerSettings read the settings from this process's environment when it was imported.
    assert timeouts["deliver"] == claim_lease_seconds(Settings().webhook_timeout_seconds)
    assert timeouts[retention.name] == RETENTION_TIMEOUT_SECONDS
    assert timeouts[digests.name] == DIGEST_TIMEOUT_SECONDS
    assert worker.job_timeout_s == CRON_TIMEOUT_SECONDS  # the sweeper's and the partition cron's
    assert worker.keep_result_s == 0


async def test_the_arq_command_runs_the_worker_configured_from_the_environment(
    api: Api, receiver: Receiver, settings: Settings, tmp_path: Path
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()  # its wake-up waits in Redis for a worker

    command = [str(ARQ), "workers.settings.WorkerSettings"]
    log_file = tmp_path / "arq.log"
    with running_process(command, worker_environment(settings, tmp_path), log_file):
        try:
            await poll(lambda: is_delivered(api, "api_key.create"), timeout=30, what="the worker to deliver")
        except AssertionError:
            print(log_file.read_text()[-4000:])
            raise
    assert receiver.actions() == ["audit_trail_webhook.set", "api_key.create"]


async def is_delivered(api: Api, action: str) -> bool:
    async with api.db.transaction() as session:
        status = await session.execute(text("SELECT status FROM webhook_deliveries WHERE action = :a"), {"a": action})
        return bool(status.scalar_one() == "DELIVERED")
