"""DNS rebinding and IPv6 forms of private IPv4 addresses, attacked through the real service.

DNS is not our code: a scripted resolver (the sender's resolver seam) plays a rebinding DNS
server that answers differently on successive questions.  Receivers are real, on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api import webhooks
from api.app import create_app
from api.db import Database
from api.models import Role
from api.settings import Settings
from api.webhooks.addresses import IPAddress, is_public_address
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Reply, running_receiver, webhook_input
from tests.support.tls import issue_certificate

TEST_SEND = "mutation { auditTrailTestWebhook { id status attempts lastStatusCode lastError } }"
# Public by every table we use, and unreachable in practice: the former 6to4 relay anycast
# (RFC 7526 withdrew its routes).  What the rebinding server answers to the check.
PUBLIC = "192.88.99.1"
PUBLIC_V6 = "2606:4700::1111"
REBINDING_HOST = "rebind.test"


@dataclass
class ScriptedResolver:
    """A DNS server for one host name: its answers in order, the last one from then on."""

    host: str
    answers: list[list[str]]
    questions: int = 0
    asked_ports: list[int] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        if host != self.host:
            return await webhooks.resolve_addresses(host, port)
        answer = self.answers[min(self.questions, len(self.answers) - 1)]
        self.questions += 1
        self.asked_ports.append(port)
        return [ipaddress.ip_address(address) for address in answer]

    def answer_from_now(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.questions = 0


@contextlib.asynccontextmanager
async def service(
    settings: Settings, db: Database, *, private_allowed: bool, resolver: ScriptedResolver
) -> AsyncIterator[Api]:
    """The API in-process, its sender asking ``resolver`` instead of the system's DNS."""
    app = create_app(settings.model_copy(update={"allow_private_endpoints": private_allowed}), resolve=resolver)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://audittrail.test") as client:
            yield Api(client, db, settings)


def test_the_stand_in_public_address_is_public() -> None:
    assert is_public_address(ipaddress.ip_address(PUBLIC)) and is_public_address(ipaddress.ip_address(PUBLIC_V6))


async def test_a_send_connects_to_the_address_it_resolved_once_and_keeps_the_host_name(
    settings: Settings, db: Database
) -> None:
    async with running_receiver() as receiver:
        # Loopback first, then an address where nothing listens: a second resolution would miss.
        resolver = ScriptedResolver(REBINDING_HOST, [["127.0.0.1"], ["127.0.0.2"]])
        async with service(settings, db, private_allowed=True, resolver=resolver) as api:
            admin = await api.key("acme", Role.ADMIN)
            endpoint = f"http://{REBINDING_HOST}:{receiver.port}/hook"
            (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint)}, token=admin.jwt)).ok()
    assert resolver.questions == 1 and resolver.asked_ports == [receiver.port]
    [verified] = receiver.requests
    assert verified.header("Host") == f"{REBINDING_HOST}:{receiver.port}"
    assert verified.path == "/hook"


async def test_a_rebinding_answer_between_check_and_connection_never_reaches_the_private_address(
    settings: Settings, db: Database
) -> None:
    async with running_receiver() as receiver:
        resolver = ScriptedResolver(REBINDING_HOST, [[PUBLIC]])
        async with service(settings, db, private_allowed=False, resolver=resolver) as api:
            admin = await api.key("acme", Role.ADMIN)
            endpoint = f"http://{REBINDING_HOST}:{receiver.port}/hook"
            saved = await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, enabled=False)}, token=admin.jwt)
            saved.ok()
            # The attack: public to whoever asks first, the receiver on loopback to whoever asks next.
            resolver.answer_from_now([PUBLIC], ["127.0.0.1"])
            sent = (await api.gql(TEST_SEND, token=admin.jwt)).ok()["auditTrailTestWebhook"]
    assert resolver.questions == 1  # the connection used the answer that was judged, and asked nothing more
    assert receiver.requests == []
    assert sent["status"] == "FAILED" and sent["lastStatusCode"] is None
    assert "127.0.0.1" not in sent["lastError"]


async def test_a_name_rebound_to_loopback_after_the_save_is_refused_when_it_connects(
    settings: Settings, db: Database
) -> None:
    async with running_receiver() as receiver:
        resolver = ScriptedResolver(REBINDING_HOST, [[PUBLIC], ["127.0.0.1"]])
        async with service(settings, db, private_allowed=False, resolver=resolver) as api:
            admin = await api.key("acme", Role.ADMIN)
            endpoint = f"http://{REBINDING_HOST}:{receiver.port}/hook"
            saved = await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, enabled=False)}, token=admin.jwt)
            saved.ok()
            sent = (await api.gql(TEST_SEND, token=admin.jwt)).ok()["auditTrailTestWebhook"]
            enabled = await api.gql("mutation { auditTrailEnableWebhook { enabled } }", token=admin.jwt)
    assert receiver.requests == []
    assert sent["status"] == "FAILED" and sent["attempts"] == 1
    assert f"endpoint host '{REBINDING_HOST}' resolves to 127.0.0.1" in sent["lastError"]
    # Verify-on-save connects the same way: the enable is refused and nothing is changed.
    assert enabled.codes == ["WEBHOOK_VERIFICATION_FAILED"], enabled.json
    assert "resolves to 127.0.0.1" in enabled.errors[0]["message"]


async def test_a_redirect_is_recorded_as_the_answer_and_not_followed(settings: Settings, db: Database) -> None:
    async with running_receiver() as inside:
        redirect = Reply(status=307, headers=(("Location", f"http://127.0.0.1:{inside.port}/hook"),))
        async with running_receiver(script=[Reply()], default=redirect) as outside:
            resolver = ScriptedResolver(REBINDING_HOST, [["127.0.0.1"]])
            async with service(settings, db, private_allowed=True, resolver=resolver) as api:
                admin = await api.key("acme", Role.ADMIN)
                endpoint = f"http://{REBINDING_HOST}:{outside.port}/hook"
                (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint)}, token=admin.jwt)).ok()
                sent = (await api.gql(TEST_SEND, token=admin.jwt)).ok()["auditTrailTestWebhook"]
    assert sent["lastStatusCode"] == 307 and sent["status"] == "FAILED"
    assert len(outside.requests) == 2 and inside.requests == []


async def test_https_announces_and_verifies_the_host_name_while_connecting_to_the_pinned_address(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    certificate = issue_certificate("hook.test", tmp_path)
    resolver = ScriptedResolver("hook.test", [["127.0.0.1"]])
    sender = webhooks.Sender.from_settings(settings, resolve=resolver, ssl_context=certificate.client_context())
    admin = await api.key("acme", Role.ADMIN)
    try:
        async with running_receiver(tls=certificate.server_context()) as receiver:
            endpoint = f"https://hook.test:{receiver.port}/hook"
            (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, enabled=False)}, token=admin.jwt)).ok()
            # The API's own sender asks the system's DNS, which has no hook.test: that attempt fails.
            tested = (await api.gql(TEST_SEND, token=admin.jwt)).ok()["auditTrailTestWebhook"]
            assert tested["status"] == "FAILED" and "does not resolve" in tested["lastError"]
            retry_policy = webhooks.RetryPolicy.from_settings(settings)
            delivered = await webhooks.deliver_now(api.db, sender, retry_policy, delivery_id=tested["id"])
    finally:
        await sender.aclose()
    assert delivered.outcome.status_code == 200, delivered.outcome
    assert certificate.server_names_seen == ["hook.test"]
    [request] = receiver.requests
    assert request.header("Host") == f"hook.test:{receiver.port}"


async def test_https_refuses_a_certificate_for_another_name_at_the_same_address(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    certificate = issue_certificate("hook.test", tmp_path)
    resolver = ScriptedResolver("other.test", [["127.0.0.1"]])
    sender = webhooks.Sender.from_settings(settings, resolve=resolver, ssl_context=certificate.client_context())
    admin = await api.key("acme", Role.ADMIN)
    try:
        async with running_receiver(tls=certificate.server_context()) as receiver:
            endpoint = f"https://other.test:{receiver.port}/hook"
            (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, enabled=False)}, token=admin.jwt)).ok()
            tested = (await api.gql(TEST_SEND, token=admin.jwt)).ok()["auditTrailTestWebhook"]
            retry_policy = webhooks.RetryPolicy.from_settings(settings)
            refused = await webhooks.deliver_now(api.db, sender, retry_policy, delivery_id=tested["id"])
    finally:
        await sender.aclose()
    assert refused.outcome.status_code is None
    assert "CERTIFICATE_VERIFY_FAILED" in (refused.outcome.error or "")
    assert certificate.server_names_seen == ["other.test"] and receiver.requests == []


# Each IPv6 form carries a private IPv4 address the packet would end up at.
PRIVATE_CARRIERS = {
    "6to4 of 169.254.169.254": ("2002:a9fe:a9fe::", "169.254.169.254"),
    "6to4 of 127.0.0.1": ("2002:7f00:1::1", "127.0.0.1"),
    "NAT64 of 169.254.169.254": ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
    "NAT64 of 10.0.0.1": ("64:ff9b::10.0.0.1", "10.0.0.1"),
    "local-use NAT64": ("64:ff9b:1::a9fe:a9fe", "local-use NAT64"),
    "Teredo client 127.0.0.1": ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
    "Teredo server 10.0.0.1": ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "10.0.0.1"),
    "IPv4-mapped 169.254.169.254": ("::ffff:a9fe:a9fe", "169.254.169.254"),
    "IPv4-compatible 169.254.169.254": ("::169.254.169.254", "169.254.169.254"),
    "IPv4-compatible 127.0.0.1": ("::7f00:1", "127.0.0.1"),
}
# The same forms carrying public IPv4 addresses are endpoints like any other.
PUBLIC_CARRIERS = ["2002:808:808::", "64:ff9b::808:808", "2001:0:4136:e378:8000:63bf:f7f7:f7f7", "::8.8.8.8"]


async def test_ipv6_forms_carrying_a_private_ipv4_address_are_refused_on_save(settings: Settings, db: Database) -> None:
    """Every form through one service (each case is a save refused, nothing else changes between them)."""
    resolver = ScriptedResolver(REBINDING_HOST, [[PUBLIC]])
    messages: dict[str, str] = {}
    async with service(settings, db, private_allowed=False, resolver=resolver) as api:
        admin = await api.key("acme", Role.ADMIN)
        for case, (address, _) in PRIVATE_CARRIERS.items():
            endpoint = f"http://[{address}]:8080/hook"
            refused = await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, enabled=False)}, token=admin.jwt)
            assert refused.codes == ["BAD_USER_INPUT"], (case, refused.json)
            messages[case] = refused.errors[0]["message"]
        stored = (await api.gql("{ auditTrailWebhook { endpoint } }", token=admin.jwt)).ok()
    for case, (_, carried) in PRIVATE_CARRIERS.items():
        message = messages[case]
        assert message.startswith("endpoint host ") and carried in message, (case, message)
        assert "only public addresses" in message, (case, message)
    assert stored["auditTrailWebhook"] is None


async def test_ipv6_forms_carrying_a_public_ipv4_address_are_accepted(settings: Settings, db: Database) -> None:
    resolver = ScriptedResolver(REBINDING_HOST, [[PUBLIC]])
    async with service(settings, db, private_allowed=False, resolver=resolver) as api:
        admin = await api.key("acme", Role.ADMIN)
        for address in PUBLIC_CARRIERS:
            endpoint = f"http://[{address}]/hook"
            saved = await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, enabled=False)}, token=admin.jwt)
            assert saved.ok()["auditTrailSetWebhook"]["endpoint"] == endpoint


async def test_ipv6_forms_carrying_a_private_ipv4_address_are_refused_when_dns_answers_them_at_send_time(
    settings: Settings, db: Database
) -> None:
    resolver = ScriptedResolver(REBINDING_HOST, [[PUBLIC_V6]])
    async with service(settings, db, private_allowed=False, resolver=resolver) as api:
        admin = await api.key("acme", Role.ADMIN)
        endpoint = f"http://{REBINDING_HOST}/hook"
        (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, enabled=False)}, token=admin.jwt)).ok()
        errors: dict[str, str] = {}
        for case, (address, _) in PRIVATE_CARRIERS.items():
            resolver.answer_from_now([address])
            sent = (await api.gql(TEST_SEND, token=admin.jwt)).ok()["auditTrailTestWebhook"]
            assert sent["status"] == "FAILED" and sent["attempts"] == 1, (case, sent)
            errors[case] = sent["lastError"]
    for case, (address, carried) in PRIVATE_CARRIERS.items():
        assert f"resolves to {ipaddress.ip_address(address)}" in errors[case], (case, errors[case])
        assert carried in errors[case] and "only public addresses" in errors[case], (case, errors[case])


async def test_an_endpoint_behind_the_environments_proxy_is_sent_through_it_after_the_check(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (
        await api.gql(SET_WEBHOOK, {"input": webhook_input("http://proxied.test/hook", enabled=False)}, token=admin.jwt)
    ).ok()
    delivery_id = (await api.gql(TEST_SEND, token=admin.jwt)).ok()["auditTrailTestWebhook"]["id"]
    retry_policy = webhooks.RetryPolicy.from_settings(settings)
    public_only = settings.model_copy(update={"allow_private_endpoints": False})
    async with running_receiver() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        outcomes = []
        # The proxy resolves the name; the service still judges it first, by its own resolution.
        for answer in ([PUBLIC], ["10.0.0.1"]):
            resolver = ScriptedResolver("proxied.test", [answer])
            sender = webhooks.Sender.from_settings(public_only, resolve=resolver)
            try:
                outcomes.append(await webhooks.deliver_now(api.db, sender, retry_policy, delivery_id=delivery_id))
            finally:
                await sender.aclose()
    assert outcomes[0].outcome.status_code == 200, outcomes[0].outcome
    assert outcomes[1].outcome.status_code is None and "resolves to 10.0.0.1" in (outcomes[1].outcome.error or "")
    [through_proxy] = proxy.requests
    assert through_proxy.path == "http://proxied.test/hook"
