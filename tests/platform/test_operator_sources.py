"""The operator turns every source kind into its workload: CronJobs for polled kinds, a
Deployment for a streaming one, and swaps them when a source changes kind."""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from tests.platform.conftest import OperatorProcess, eventually
from tests.platform.test_operator import children, create_monitor, is_ready, patch_spec, sample


def test_each_source_kind_gets_its_workload_and_a_kind_change_swaps_it(
    kube: client.ApiClient,
    namespace: str,
    run_operator: Callable[..., OperatorProcess],
) -> None:
    run_operator(namespace)
    body = sample("news-and-social.yaml")
    create_monitor(kube, namespace, body)
    eventually(lambda: is_ready(kube, namespace, "acme-open"), what="the monitor Ready")

    live = children(kube, namespace, "acme-open")
    sources = {n: c["kind"] for n, c in live.items() if "-src-" in n}
    assert sources == {
        "acme-open-src-news": "CronJob",
        "acme-open-src-mastodon": "CronJob",
        "acme-open-src-reddit": "CronJob",
        "acme-open-src-bluesky": "Deployment",
    }
    stream = live["acme-open-src-bluesky"]
    assert stream["spec"]["strategy"]["type"] == "Recreate"
    container = stream["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["collector", "--stream"]
    reddit = live["acme-open-src-reddit"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in reddit["containers"][0]["env"]}
    assert env["REDDIT_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "reddit-app"

    # The Bluesky source becomes a news source: its Deployment goes, a CronJob comes.
    spec = body["spec"]
    spec["sources"][3] = {"name": "bluesky", "rss": {"feeds": ["https://acme.example/feed"]}}
    patch_spec(kube, namespace, "acme-open", {"sources": spec["sources"]})

    def swapped() -> bool:
        kinds = {n: c["kind"] for n, c in children(kube, namespace, "acme-open").items()}
        return kinds.get("acme-open-src-bluesky") == "CronJob"

    eventually(swapped, what="the Deployment replaced by a CronJob")
    eventually(lambda: is_ready(kube, namespace, "acme-open"), what="Ready again")
