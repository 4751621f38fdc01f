"""An attempt's outcome in plain words for the delivery log; the raw error stays in ``lastError``.

httpx's errors name a class and an errno (``ConnectError: [Errno 111] Connection refused``): right for
a bug report, opaque to the person whose receiver is down.  Plain words say what probably happened
and what to do; only failures the log reader can act on get them.
"""

from __future__ import annotations

from api.webhooks.retry_policy import AttemptOutcome

# (words in the raw error, lower case) -> what it means; the first match wins.
TRANSPORT_ERRORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("connection refused", "errno 111", "errno 61", "all connection attempts failed"),
        "connection refused: is the receiver running, on this host and port?",
    ),
    (
        ("name or service not known", "nodename nor servname", "temporary failure in name resolution", "getaddrinfo"),
        "the endpoint's host name does not resolve: check its spelling and DNS",
    ),
    (
        ("certificate", "ssl", "tls"),
        "TLS failed: the receiver's certificate is not trusted (expired, self-signed or for another name)",
    ),
    (("timed out",), "the receiver did not answer in time"),
    (
        ("remoteprotocolerror", "server disconnected", "connection reset"),
        "the receiver closed the connection without a valid HTTP answer",
    ),
    (("network is unreachable", "no route to host"), "no route to the receiver's address from this service"),
)


def explain_attempt(*, status_code: int | None, error: str | None) -> str | None:
    """What the last attempt's failure means, or None (a success, or nothing plainer to say)."""
    if status_code is not None:
        answered = AttemptOutcome(status_code=status_code)  # the retry rule lives in one place
        if answered.is_success:
            return None
        if answered.is_retryable:
            return f"HTTP {status_code}: a temporary failure on the receiver's side; retried when retryOnFailure is on"
        return (
            f"HTTP {status_code}: the receiver refused the payload; a 4xx (other than 408 and 429) is not retried,"
            " since the same payload would be refused again. Fix the receiver, then redeliver"
        )
    if error is None:
        return None
    lowered = error.lower()
    return next((meaning for words, meaning in TRANSPORT_ERRORS if any(word in lowered for word in words)), None)
