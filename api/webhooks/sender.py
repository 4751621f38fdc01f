"""Sending one claimed attempt over HTTP: sign the stored body, POST it, report what the endpoint did."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import structlog
from cryptography.fernet import InvalidToken

from api.errors import BadInput
from api.observability import client_call
from api.settings import Settings
from api.webhooks.addresses import EndpointGuard, Resolver, UnresolvableHost, resolve_addresses
from api.webhooks.attempts import ClaimedAttempt
from api.webhooks.pinning import PinnedTransport
from api.webhooks.retry_policy import AttemptOutcome, parse_retry_after
from api.webhooks.signing import SignedRequest, sign_delivery
from api.webhooks.validation import parse_endpoint

log = structlog.get_logger(__name__)

RESPONSE_SNIPPET_BYTES = 1024
MAX_ERROR_LENGTH = 500
MAX_RESPONSE_HEADERS = 50
MAX_HEADER_VALUE_LENGTH = 512
REDACTED = "[REDACTED]"
UNDECRYPTABLE_SECRET = (
    "the webhook's secret cannot be decrypted: was AUDITTRAIL_SECRET_KEY changed? Set the webhook again"
)


@dataclass(frozen=True, kw_only=True)
class Sender:
    """POSTs claimed attempts.  One per process (API and worker alike), built by ``from_settings``."""

    http: httpx.AsyncClient
    """Connects only to addresses the guard judged (``PinnedTransport``): the check is the connection."""
    proxied_http: httpx.AsyncClient
    """For endpoints that ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` send through a proxy: the proxy resolves."""
    proxies: dict[str, str]
    """The environment's ``*_PROXY`` settings, read once as ``proxied_http`` reads them: reading them
    per send walked the whole environment each time (a profile of the worker found it per delivery)."""
    guard: EndpointGuard
    service_secret_key: str = dataclasses.field(repr=False)
    """Decrypts the webhook's secret and custom headers, in the signer only."""
    timeout_seconds: float
    """Bounds a whole exchange, a response that trickles in included."""

    @classmethod
    def from_settings(
        cls, settings: Settings, *, resolve: Resolver = resolve_addresses, ssl_context: ssl.SSLContext | None = None
    ) -> Sender:
        """The process's sender, with the delivery timeout (``AUDITTRAIL_WEBHOOK_TIMEOUT_SECONDS``).

        ``resolve`` and ``ssl_context`` are the system's DNS and trust store unless a test gives its own.
        """
        guard = EndpointGuard(private_allowed=settings.private_endpoints_allowed, resolve=resolve)
        verify = ssl_context or httpx.create_ssl_context()
        # No pool limit: callers bound how many sends run at once (arq's max_jobs, the API's requests).
        limits = httpx.Limits(max_connections=None)
        return cls(
            # A redirect is the endpoint's answer, not a hop to take: its target was never checked.
            http=httpx.AsyncClient(
                follow_redirects=False, transport=PinnedTransport(guard, ssl_context=verify, limits=limits)
            ),
            proxied_http=httpx.AsyncClient(follow_redirects=False, verify=verify, limits=limits, trust_env=True),
            proxies=urllib.request.getproxies_environment(),
            guard=guard,
            service_secret_key=settings.resolved_secret_key(),
            timeout_seconds=settings.webhook_timeout_seconds,
        )

    def with_timeout(self, timeout_seconds: float) -> Sender:
        """This sender with another timeout (verify-on-save's).  It shares the client: close only the original."""
        return dataclasses.replace(self, timeout_seconds=timeout_seconds)

    async def aclose(self) -> None:
        """Close the pooled clients (shared with every ``with_timeout`` copy)."""
        await self.http.aclose()
        await self.proxied_http.aclose()

    async def send(self, claimed: ClaimedAttempt) -> AttemptOutcome:
        """Sign and POST the stored body bytes; never raises: whatever goes wrong is the attempt's outcome,
        so that the attempt is recorded and counted (an attempt that raised would be sent again and again)."""
        try:
            return await self._sign_and_post(claimed)
        except Exception as unexpected:
            # The message may quote what failed (a header value): only the type is recorded and logged.
            log.error(
                "unexpected error while sending", delivery_id=claimed.delivery_id, error=type(unexpected).__name__
            )
            return AttemptOutcome(
                error=f"the attempt failed inside the service ({type(unexpected).__name__}); it is counted and retried"
            )

    async def _sign_and_post(self, claimed: ClaimedAttempt) -> AttemptOutcome:
        if claimed.body is None:
            return AttemptOutcome(error="the event no longer exists (retention)", is_retryable_error=False)
        is_proxied = _is_proxied(claimed.endpoint, self.proxies)
        if is_proxied and not self.guard.private_allowed:
            # The proxy resolves the host itself: the best we can do is to judge it just before.
            try:
                endpoint = parse_endpoint(claimed.endpoint)
                await self.guard.addresses_for(endpoint.host, endpoint.port)
            except BadInput as refused:
                return _refused(refused)
        try:
            request = sign_delivery(
                service_secret_key=self.service_secret_key,
                secret_encrypted=claimed.secret_encrypted,
                custom_headers_encrypted=claimed.custom_headers_encrypted,
                body_bytes=claimed.body.encode(),
                event_id=claimed.event_id,
                delivery_id=claimed.delivery_id,
                attempt=claimed.attempt,
                timestamp=int(time.time()),
            )
        except InvalidToken:
            return AttemptOutcome(error=UNDECRYPTABLE_SECRET, is_retryable_error=False)
        http = self.proxied_http if is_proxied else self.http
        return await client_call("POST", claimed.endpoint, self._post(claimed.endpoint, request, http=http))

    async def _post(self, endpoint: str, request: SignedRequest, *, http: httpx.AsyncClient) -> AttemptOutcome:
        started = time.perf_counter()
        sent_headers = shown_request_headers(request)

        def elapsed_ms() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            # httpx's timeout is per phase; the outer one bounds the whole exchange (a trickling response).
            async with asyncio.timeout(self.timeout_seconds):
                async with http.stream(
                    "POST",
                    endpoint,
                    content=request.body_bytes,
                    headers=request.headers,
                    timeout=self.timeout_seconds,
                ) as response:
                    snippet = await _read_snippet(response, request.custom_header_values)
            return AttemptOutcome(
                status_code=response.status_code,
                latency_ms=elapsed_ms(),
                response_snippet=snippet,
                retry_after_seconds=parse_retry_after(response.headers.get("retry-after")),
                request_headers=sent_headers,
                response_headers=shown_response_headers(response.headers, request.custom_header_values),
            )
        except BadInput as refused:
            # The guard's answer when the connection resolved the host (PinnedBackend).
            return dataclasses.replace(_refused(refused), latency_ms=elapsed_ms())
        except (TimeoutError, httpx.TimeoutException):
            return AttemptOutcome(
                latency_ms=elapsed_ms(),
                error=f"timed out after {self.timeout_seconds:g} s",
                request_headers=sent_headers,
            )
        except httpx.HTTPError as error:
            # The secret never leaves the signer, only its HMACs; header values could appear in an error.
            message = storable(_redact(str(error) or type(error).__name__, request.custom_header_values))
            message = message[:MAX_ERROR_LENGTH]
            return AttemptOutcome(
                latency_ms=elapsed_ms(), error=f"{type(error).__name__}: {message}", request_headers=sent_headers
            )


def shown_request_headers(request: SignedRequest) -> dict[str, str]:
    """The request's headers for the attempt history: a custom header's value is the customer's secret."""
    return {name: _redact(value, request.custom_header_values) for name, value in request.headers.items()}


def shown_response_headers(headers: httpx.Headers, secrets: list[str]) -> dict[str, str]:
    """The answer's headers for the attempt history: bounded, storable, echoed secrets redacted."""
    shown: dict[str, str] = {}
    for name, value in headers.multi_items()[:MAX_RESPONSE_HEADERS]:
        text = storable(_redact(value, secrets))[:MAX_HEADER_VALUE_LENGTH]
        shown[storable(name)] = f"{shown[name]}, {text}" if name in shown else text
    return shown


def _refused(refused: BadInput) -> AttemptOutcome:
    """A host that does not resolve may next time; one that resolves to a private address is refused."""
    return AttemptOutcome(error=refused.message, is_retryable_error=isinstance(refused, UnresolvableHost))


def _is_proxied(endpoint: str, proxies: dict[str, str]) -> bool:
    """Whether the environment's proxy settings (``proxies``) send ``endpoint`` through a proxy (the
    standard library's reading of ``*_PROXY`` and ``NO_PROXY``, as httpx reads them)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in proxies and "all" not in proxies:
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")  # reads NO_PROXY: only once a proxy is set


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def storable(text: str) -> str:
    """``text`` as PostgreSQL can store it: NUL has no place in a text column (a receiver may send one)."""
    return text.replace("\x00", "\ufffd")


async def _read_snippet(response: httpx.Response, secrets: list[str]) -> str:
    """The first KiB of the response for the delivery log, storable, with custom header values redacted.

    A receiver may echo the request's headers: the values are redacted before the cut, from a read
    long enough to hold a value that straddles it, so not even a prefix of one reaches the log.
    """
    wanted = RESPONSE_SNIPPET_BYTES + max((len(secret.encode()) for secret in secrets), default=0)
    collected = b""
    async for chunk in response.aiter_bytes():
        collected += chunk
        if len(collected) >= wanted:
            break
    text = _redact(collected[:wanted].decode("utf-8", errors="replace"), secrets)
    return storable(text.encode()[:RESPONSE_SNIPPET_BYTES].decode("utf-8", errors="ignore"))
