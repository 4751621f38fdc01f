"""arq's start of a job in one Redis round trip instead of five.

arq's ``Worker.start_jobs`` marks a job in progress under ``WATCH``: ``WATCH``, ``EXISTS`` of the
in-progress key, ``ZSCORE`` of the job in the queue, ``MULTI``/``PSETEX``/``EXEC``, then redis-py's
``UNWATCH``: five round trips per job, each a socket write and a wake-up of the event loop, for
every delivery.  The same check-and-mark as one Lua script is as atomic (Redis runs a script alone)
and costs one.  The keys, the in-progress timeout and everything after the start are arq's own.
"""

from __future__ import annotations

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.asyncio import Redis

# KEYS: the in-progress key, the queue.  ARGV: the job id, now (ms), the in-progress timeout (ms).
# Not started when another worker holds it, when it left the queue (finished), or when its score
# moved past now (enqueued again with a delay): arq's own three conditions.
_START_JOB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
"""


async def mark_in_progress(redis: Redis, queue_name: str, job_id: str, *, in_progress_ms: int) -> int | None:
    """The job's queue score if this call marked it in progress (so this worker runs it); None if it
    is not to be started here.  EVAL, not EVALSHA: Redis keeps the compiled script by its hash, and
    redis-py's script objects check ``SCRIPT EXISTS`` first, a round trip more."""
    score = await redis.eval(  # type: ignore[misc]  # redis-py types eval as sync-or-async
        _START_JOB, 2, in_progress_key_prefix + job_id, queue_name, job_id, str(timestamp_ms()), str(in_progress_ms)
    )
    return None if score is None else int(float(score))


class OneTripStartWorker(Worker):
    """arq's ``Worker`` with ``start_jobs`` making one Redis round trip per job."""

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # arq's loop, slot for slot (the semaphore and counter bound running jobs to max_jobs).
        for job_id_bytes in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            job_id = job_id_bytes.decode()
            score = await mark_in_progress(
                self.pool, self.queue_name, job_id, in_progress_ms=int(self.in_progress_timeout_s * 1000)
            )
            if score is None:
                self.job_counter -= 1
                self.sem.release()
                continue
            task = self.loop.create_task(self.run_job(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task
