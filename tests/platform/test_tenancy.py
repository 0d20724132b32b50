"""Two tenants, each acting through their own RBAC, against one real operator.

Each test reproduces an attack from issue 16 that used to reach the other tenant (or every
tenant) and checks that it no longer does. Tenants are impersonated users bound, in their
own namespace only, to Kubernetes' `edit` role and the chart's BrandMonitor editor role.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from brandmon_operator import api, credentials, ksql
from tests.conftest import unique
from tests.ksqldb_double import KsqlDbDouble
from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_chart import CHART, Helm, helm  # noqa: F401 - the helm fixture
from tests.platform.test_operator import condition, get_monitor, is_ready, sample
from tests.platform.test_topics_queries import ksql_post


@dataclass
class Tenant:
    """A namespace and a user who may edit in it, and nowhere else."""

    namespace: str
    user: str
    api: client.ApiClient

    def create_monitor(self, body: dict[str, Any]) -> None:
        client.CustomObjectsApi(self.api).create_namespaced_custom_object(
            api.GROUP, api.VERSION, self.namespace, api.PLURAL, body
        )

    def delete_monitor(self, name: str) -> None:
        client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
            api.GROUP, api.VERSION, self.namespace, api.PLURAL, name
        )


@pytest.fixture
def tenants(kube: client.ApiClient, helm: Helm) -> Iterator[Callable[..., Tenant]]:  # noqa: F811
    """Make tenants: a fresh namespace each, its user bound to edit + the chart's editor."""
    rendered = helm("template", "rel", str(CHART), "--show-only", "templates/user-roles.yaml")
    editor = next(
        m
        for m in yaml.safe_load_all(rendered.stdout)
        if m and m["metadata"]["name"].endswith("-editor")
    )
    role_name = unique("brandmon-editor")
    rbac, core = client.RbacAuthorizationV1Api(kube), client.CoreV1Api(kube)
    rbac.create_cluster_role({**editor, "metadata": {"name": role_name}})  # type: ignore[arg-type]
    made: list[str] = []

    def make(namespace: str, *, edit: bool = True) -> Tenant:
        """A tenant bound to the editor role, and to `edit` (Secrets, ConfigMaps) if asked."""
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        made.append(namespace)
        user = f"user-{namespace}"
        for role in ("edit", role_name) if edit else (role_name,):
            rbac.create_namespaced_role_binding(namespace, {  # type: ignore[arg-type]
                "metadata": {"name": f"{user}-{role}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                              "name": user}],
            })  # fmt: skip
        impersonated = client.ApiClient(
            kube.configuration, header_name="Impersonate-User", header_value=user
        )
        tenant = Tenant(namespace, user, impersonated)

        def allowed() -> bool:
            try:
                client.CustomObjectsApi(impersonated).list_namespaced_custom_object(
                    api.GROUP, api.VERSION, namespace, api.PLURAL
                )
            except ApiException as error:
                if error.status == 403:
                    return False
                raise
            return True

        eventually(allowed, what=f"{user}'s bindings to take effect")
        return tenant

    yield make
    for namespace in made:
        core.delete_namespace(namespace)
    rbac.delete_cluster_role(role_name)


def ksqldb_monitor(name: str, url: str | None = None) -> dict[str, Any]:
    body = sample()
    body["metadata"] = {"name": name}
    body["spec"]["analysis"] = body["spec"].get("analysis", {}) | {"image": {"provider": "none"}}
    if url is not None:
        body["spec"]["connections"] = {"ksqldb": {"url": url}}
    return body


def message_of(kube: client.ApiClient, namespace: str, name: str, type_: str) -> str:
    found = condition(get_monitor(kube, namespace, name), type_)
    return str(found["message"]) if found else ""


def reason(kube: client.ApiClient, namespace: str, name: str, type_: str) -> str | None:
    found = condition(get_monitor(kube, namespace, name), type_)
    return str(found["reason"]) if found else None


def live_names(double: KsqlDbDouble) -> set[str]:
    names = set()
    for listing, key in (("SHOW STREAMS;", "streams"), ("SHOW TABLES;", "tables")):
        for entity in ksql_post(double, listing):
            names |= {s["name"] for s in entity.get(key, [])}
    return names


def recorded(kube: client.ApiClient, namespace: str, name: str) -> set[str]:
    status = get_monitor(kube, namespace, name).get("status", {})
    return {q["name"] for q in status.get("queries", [])}


def test_monitors_whose_readable_prefixes_collided_keep_apart(
    kube: client.ApiClient, tenants: Callable[..., Tenant], ksqldb: KsqlDbDouble,
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    base = unique("shop")
    # `web` in `<base>--eu` and `eu--web` in `<base>` both read BM_<BASE>__EU__WEB_ before.
    victim, attacker = tenants(f"{base}--eu"), tenants(base)
    run_operator(f"{victim.namespace},{attacker.namespace}", resync_seconds=2)
    victim.create_monitor(ksqldb_monitor("web"))
    eventually(lambda: is_ready(kube, victim.namespace, "web"), what="the victim Ready")
    theirs = recorded(kube, victim.namespace, "web")
    attacker.create_monitor(ksqldb_monitor("eu--web"))
    eventually(lambda: is_ready(kube, attacker.namespace, "eu--web"), what="the attacker Ready")
    mine = recorded(kube, attacker.namespace, "eu--web")
    assert theirs
    assert mine
    assert not theirs & mine
    # The attacker's monitor goes: the victim's objects stay, and so does its readiness.
    attacker.delete_monitor("eu--web")
    eventually(lambda: not mine & live_names(ksqldb), what="the attacker's objects dropped")
    assert theirs <= live_names(ksqldb)
    assert is_ready(kube, victim.namespace, "web")


def test_an_object_under_a_monitors_name_that_it_did_not_create_is_left_alone(
    kube: client.ApiClient, tenants: Callable[..., Tenant], ksqldb: KsqlDbDouble,
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"))
    name = ksql.object_prefix(tenant.namespace, "acme") + "ALERTS"
    ksql_post(ksqldb, f"CREATE STREAM {name} (`id` STRING) WITH (KAFKA_TOPIC='{name}', "
              "VALUE_FORMAT='JSON', PARTITIONS=1);")  # fmt: skip
    run_operator(tenant.namespace, resync_seconds=2)
    tenant.create_monitor(ksqldb_monitor("acme"))
    eventually(
        lambda: reason(kube, tenant.namespace, "acme", "QueriesReady") == "ObjectNotOwned",
        what="the monitor to stall on the object it does not own",
    )
    message = message_of(kube, tenant.namespace, "acme", "QueriesReady")
    assert name in message
    assert name in live_names(ksqldb)  # neither dropped ...
    assert not [r for r in ksqldb.requests if name in str(r) and "DROP" in str(r).upper()]


def test_a_monitor_never_takes_over_an_unrelated_configmap(
    kube: client.ApiClient, tenants: Callable[..., Tenant],
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"))
    core = client.CoreV1Api(tenant.api)
    core.create_namespaced_config_map(
        tenant.namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="app-settings"), data={"owner": "billing"}
        ),
    )
    run_operator(tenant.namespace, resync_seconds=2)
    body = ksqldb_monitor("app")
    body["spec"]["processing"] = {"engine": "builtin"}
    tenant.create_monitor(body)
    eventually(
        lambda: reason(kube, tenant.namespace, "app", "WorkloadsReady") == "ChildNotOwned",
        what="the monitor to stall on the ConfigMap it does not own",
    )
    kept = core.read_namespaced_config_map("app-settings", tenant.namespace)
    assert kept.data == {"owner": "billing"}
    assert kept.metadata is not None
    assert not kept.metadata.owner_references
    tenant.delete_monitor("app")

    def gone() -> bool:
        listed = client.CustomObjectsApi(kube).list_namespaced_custom_object(
            api.GROUP, api.VERSION, tenant.namespace, api.PLURAL
        )
        return not listed["items"]  # type: ignore[index]

    eventually(gone, what="the monitor gone")
    assert core.read_namespaced_config_map("app-settings", tenant.namespace).data == {
        "owner": "billing"
    }


class BadEndpoint:
    """A loopback HTTP server that never completes an answer: it drips or it floods."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.server.settimeout(0.5)
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if self.mode == "drip":
                    for byte in (
                        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"[" * 10**6
                    ):
                        conn.sendall(bytes([byte]))
                        if self.stopped.wait(1.0):
                            return
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
                    while not self.stopped.is_set():
                        conn.sendall(b"0," * 65536)
            except OSError:
                return  # the operator gave up on us: as it should

    def close(self) -> None:
        self.stopped.set()
        self.server.close()


def test_one_tenants_hanging_endpoints_do_not_stall_another_tenant(
    kube: client.ApiClient, tenants: Callable[..., Tenant],
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    noisy, quiet = tenants(unique("noisy")), tenants(unique("quiet"))
    drip, flood = BadEndpoint("drip"), BadEndpoint("flood")
    try:
        # Few threads, so that without the guards the noisy tenant would hold them all.
        run_operator(
            f"{noisy.namespace},{quiet.namespace}", resync_seconds=3,
            concurrent_reconciles="4", outbound_deadline_seconds="3",
            allow_custom_endpoints="true",  # an administrator who lets tenants name servers
        )  # fmt: skip
        for i in range(6):
            noisy.create_monitor(ksqldb_monitor(f"m{i}", drip.url if i % 2 else flood.url))
        eventually(
            lambda: all(
                reason(kube, noisy.namespace, f"m{i}", "QueriesReady") == "KsqlDbUnavailable"
                for i in range(6)
            ),
            timeout=120, what="every noisy monitor to report its endpoint unavailable",
        )  # fmt: skip
        quiet.create_monitor(ksqldb_monitor("acme"))
        # Within about one resync, though the noisy monitors keep retrying.
        eventually(lambda: is_ready(kube, quiet.namespace, "acme"), timeout=30, what="Ready")
        message = message_of(kube, noisy.namespace, "m0", "QueriesReady")
        assert "bytes" in message or "circuit" in message  # the flood hit the size cap
    finally:
        drip.close()
        flood.close()


class Listener:
    """A tenant's HTTP listener on loopback that records every request's headers."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                listener.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"[]")

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_operator_never_sends_a_secret_to_an_endpoint_its_owner_did_not_list(
    kube: client.ApiClient, tenants: Callable[..., Tenant],
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"), edit=False)  # BrandMonitors only: no Secrets
    # The platform team's ksqlDB credentials, released to their server only.
    client.CoreV1Api(kube).create_namespaced_secret(tenant.namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(
            name="ksql-admin",
            annotations={credentials.RELEASE_ANNOTATION: "ksqldb.infra.svc:8088"}),
        string_data={"credentials": "admin:platform-secret"}))  # fmt: skip
    with pytest.raises(ApiException) as denied:  # the tenant cannot release it to themselves
        client.CoreV1Api(tenant.api).patch_namespaced_secret(
            "ksql-admin", tenant.namespace,
            {"metadata": {"annotations": {credentials.RELEASE_ANNOTATION: "127.0.0.1:1"}}},
        )  # fmt: skip
    assert denied.value.status == 403
    listener = Listener()
    try:
        run_operator(tenant.namespace, resync_seconds=2, allow_custom_endpoints="true")
        body = ksqldb_monitor("acme", listener.url)
        body["spec"]["connections"]["ksqldb"]["credentialsSecretRef"] = {
            "name": "ksql-admin", "key": "credentials"}  # fmt: skip
        tenant.create_monitor(body)
        eventually(
            lambda: (
                reason(kube, tenant.namespace, "acme", "QueriesReady") == "CredentialsUnavailable"
            ),
            what="the monitor to stall on credentials not released to its endpoint",
        )
        message = message_of(kube, tenant.namespace, "acme", "QueriesReady")
        assert "not released to 127.0.0.1:" in message
        assert "platform-secret" not in message
        assert not [h for h in listener.headers if "Authorization" in h]
    finally:
        listener.close()


def _routable_address() -> str:
    """Return this machine's address on its outbound interface (not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # UDP: picks a route, sends nothing
        address: str = probe.getsockname()[0]
    return address


def test_kafka_credentials_never_cross_the_network_in_clear(
    kube: client.ApiClient, tenants: Callable[..., Tenant],
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    tenant = tenants(unique("t"))
    accepted: list[object] = []
    with socket.create_server((_routable_address(), 0)) as broker:
        host, port = broker.getsockname()[:2]
        broker.settimeout(0.2)

        def accept() -> None:
            while broker.fileno() != -1:
                try:
                    accepted.append(broker.accept()[0])
                except OSError:
                    continue

        threading.Thread(target=accept, daemon=True).start()
        # Released to that broker by the Secret's owner, but over plain TCP.
        client.CoreV1Api(kube).create_namespaced_secret(tenant.namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="kafka-creds", annotations={credentials.RELEASE_ANNOTATION: f"{host}:{port}"}),
            string_data={"client.properties": "security.protocol=SASL_PLAINTEXT\n"
                         "sasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=platform-secret\n"},
        ))  # fmt: skip
        run_operator(tenant.namespace, resync_seconds=2, allow_custom_endpoints="true")
        body = ksqldb_monitor("acme")
        body["spec"]["processing"] = {"engine": "builtin"}
        body["spec"]["connections"] = {"kafka": {
            "bootstrapServers": f"{host}:{port}",
            "credentialsSecretRef": {"name": "kafka-creds", "key": "client.properties"}}}  # fmt: skip
        tenant.create_monitor(body)
        eventually(
            lambda: (
                reason(kube, tenant.namespace, "acme", "TopicsReady") == "CredentialsUnavailable"
            ),
            what="the monitor to stall on credentials that would travel in clear",
        )
        message = message_of(kube, tenant.namespace, "acme", "TopicsReady")
        assert f"Kafka credentials go to {host} only over TLS" in message
        assert "platform-secret" not in message
        assert accepted == []  # the operator never connected


def test_tenants_reach_only_the_endpoints_an_administrator_defined(
    kube: client.ApiClient, tenants: Callable[..., Tenant], ksqldb: KsqlDbDouble,
    run_operator: Callable[..., OperatorProcess],
) -> None:  # fmt: skip
    member, outsider = tenants(unique("t")), tenants(unique("u"))
    default = Listener()  # the operator's default ksqlDB: nothing here should reach it
    try:
        profiles = {"analytics": {"ksqldb": {"url": ksqldb.url}, "namespaces": [member.namespace]}}
        run_operator(
            f"{member.namespace},{outsider.namespace}", resync_seconds=2,
            ksqldb_url=default.url, connection_profiles=json.dumps(profiles),
        )  # fmt: skip
        chosen = ksqldb_monitor("acme")
        chosen["spec"]["connections"] = {"profile": "analytics"}
        member.create_monitor(chosen)
        eventually(lambda: is_ready(kube, member.namespace, "acme"), what="the profile's monitor")
        prefix = ksql.object_prefix(member.namespace, "acme")
        assert any(name.startswith(prefix) for name in live_names(ksqldb))
        outsider.create_monitor(chosen)
        # Endpoints named in the spec itself are refused without an administrator's consent.
        member.create_monitor(ksqldb_monitor("own", default.url))
        for tenant, name, field in (
            (outsider, "acme", "spec.connections.profile"),
            (member, "own", "spec.connections.ksqldb"),
        ):

            def refused_monitor(t: Tenant = tenant, n: str = name) -> bool:
                return reason(kube, t.namespace, n, "ConnectionsAllowed") == "ConnectionNotAllowed"

            eventually(refused_monitor, what=f"{name} in {tenant.namespace} to be refused")
            assert message_of(kube, tenant.namespace, name, "ConnectionsAllowed").startswith(field)
        assert default.headers == []
        # A profile names every connection: the API server refuses mixing in one's own.
        mixed = ksqldb_monitor("mixed", default.url)
        mixed["spec"]["connections"]["profile"] = "analytics"
        with pytest.raises(ApiException) as refused:
            member.create_monitor(mixed)
        assert refused.value.status == 422
        assert "spec.connections.profile" in str(refused.value.body)
    finally:
        default.close()
