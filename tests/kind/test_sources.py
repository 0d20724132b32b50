"""One monitor with every new source kind through the whole pipeline, on kind.

A news feed, a Mastodon instance, Reddit and Jetstream are local doubles, listening on the
host's address on the kind network (a bridge the test run created: the pods reach it, and
nothing outside); everything else is real: the chart's operator turns the monitor into
three CronJobs and a Deployment, the kubelet runs them (collection Jobs started as
`kubectl create job --from=cronjob` does) and the analyzers, the engine and the notifier
behind them, and every damaging post of every platform reaches the webhook exactly once,
while each source reports in `status.sources`.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from brandmon_devtools.kind import cluster
from brandmon_workers.collector import feeds
from tests.doubles.http import HttpDouble, Reply, Request
from tests.doubles.jetstream import JetstreamDouble, commit, post_record
from tests.kind.flow import Flow, monitor_manifest
from tests.platform.conftest import eventually

RECALL = "The Northwind kettle recall is real, mine caught fire"
BENIGN = "Tea with a Northwind teapot this afternoon"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def bridge(kind_cluster: cluster.Cluster) -> str:
    """The host's IPv4 address on the kind network: where the pods reach the doubles."""
    done = subprocess.run(
        [kind_cluster.docker, "network", "inspect", "kind", "--format",
         "{{range .IPAM.Config}}{{.Gateway}} {{end}}"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    addresses = [a for a in done.stdout.split() if a.count(".") == 3]  # IPv4, not IPv6
    assert addresses, done.stdout
    return addresses[0]


@pytest.fixture
def http_double(bridge: str) -> Iterator[HttpDouble]:
    with HttpDouble(host=bridge) as double:
        yield double


@pytest.fixture
def jetstream(bridge: str) -> Iterator[JetstreamDouble]:
    with JetstreamDouble(host=bridge) as double:
        yield double


def rss(base: str) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>{base}/news/{n}</link><guid>{base}/news/{n}</guid>"
        f"<pubDate>Thu, 03 Dec 2026 09:0{n}:00 +0000</pubDate></item>"
        for n, title in enumerate([RECALL, BENIGN])
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{items}</channel></rss>'.encode()


def status(n: int, text: str) -> dict[str, Any]:
    uri = f"https://social.example/users/kim/statuses/{n}"
    return {
        "id": str(n), "uri": uri, "url": uri, "created_at": "2026-12-03T09:00:00.000Z",
        "visibility": "public", "language": "en", "content": f"<p>{text}</p>", "reblog": None,
        "replies_count": 0, "reblogs_count": 0, "favourites_count": 2, "media_attachments": [],
        "mentions": [], "tags": [], "account": {"acct": "kim", "followers_count": 300},
    }  # fmt: skip


def thing(n: int, title: str) -> dict[str, Any]:
    return {"kind": "t3", "data": {
        "name": f"t3_nw{n}", "id": f"nw{n}", "title": title, "selftext": "", "author": "tea_fan",
        "created_utc": 1796288400.0 + n, "score": 5, "num_comments": 1, "subreddit": "northwind",
        "permalink": f"/r/northwind/comments/nw{n}/x/", "subreddit_subscribers": 1200,
    }}  # fmt: skip


def doubles(http: HttpDouble) -> None:
    base = http.url
    http.route("/feed", Reply(200, rss(base), {"Content-Type": "application/rss+xml"}))
    http.route(
        "/api/v1/timelines/tag/northwind",
        Reply(200, json.dumps([status(1, RECALL), status(2, BENIGN)]).encode(), JSON),
    )

    def token(request: Request) -> Reply:
        return Reply(200, b'{"access_token": "app-token", "expires_in": 86400}', JSON)

    http.route("/api/v1/access_token", token)
    listing = {
        "kind": "Listing",
        "data": {"after": None, "children": [thing(1, RECALL), thing(2, BENIGN)]},
    }
    http.route("/r/northwind/new", Reply(200, json.dumps(listing).encode(), JSON))
    http.route(
        "/xrpc/app.bsky.actor.getProfile",
        Reply(200, b'{"handle": "kim.bsky.social", "followersCount": 42}', JSON),
    )


def test_every_source_kind_alerts_once_per_damaging_post(
    flow: Flow, http_double: HttpDouble, jetstream: JetstreamDouble
) -> None:
    doubles(http_double)
    base = http_double.url
    core = client.CoreV1Api(flow.kube)
    for name, data in {
        "mastodon-token": {"token": "mastodon-secret-token"},
        "reddit-app": {"REDDIT_CLIENT_ID": "app", "REDDIT_CLIENT_SECRET": "reddit-secret"},
    }.items():
        core.create_namespaced_secret(
            flow.namespace,
            client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data),
        )
    never = "0 0 1 1 *"  # collections are started by the test
    sources = [
        {"name": "news", "schedule": never, "rss": {"feeds": [f"{base}/feed"]}},
        {"name": "mastodon", "schedule": never, "mastodon": {
            "instances": [base], "hashtags": ["northwind"],
            "tokenSecretRef": {"name": "mastodon-token", "key": "token"}}},
        {"name": "reddit", "schedule": never, "reddit": {
            "subreddits": ["northwind"], "credentialsSecretName": "reddit-app",
            "apiUrl": base, "tokenUrl": f"{base}/api/v1/access_token"}},
        {"name": "bluesky", "bluesky": {
            "terms": ["northwind"], "jetstreamUrl": jetstream.url, "appViewUrl": base}},
    ]  # fmt: skip
    flow.apply(monitor_manifest(flow.name, sources=sources))
    flow.wait_ready()

    jobs = [flow.start_collection(source) for source in ("news", "mastodon", "reddit")]
    try:
        jetstream.wait_for_subscriptions(1, timeout=180)
    except TimeoutError as error:
        logs = flow.stack.kubectl(
            "logs",
            "-n",
            flow.namespace,
            f"deploy/{flow.name}-src-bluesky",
            "--tail=40",
            check=False,
        )
        pytest.fail(f"{error}; the collector's log:\n{logs}\n{flow.tail()}")
    now = int(time.time() * 1_000_000)
    did = "did:plc:kim00000000000000000000001"
    jetstream.add(
        commit(did, now, "3lnwrecall001", post_record(RECALL)),
        commit(did, now + 1, "3lnwbenign001", post_record(BENIGN)),
    )
    for job in jobs:
        flow.wait_collected(job)

    damaging = {
        "news": feeds.post_id(f"{base}/news/0"),
        "mastodon": "mastodon:https://social.example/users/kim/statuses/1",
        "reddit": "reddit:t3_nw1",
        "bluesky": f"bluesky:at://{did}/app.bsky.feed.post/3lnwrecall001",
    }

    def all_scored() -> bool:
        return len(set(flow.scored())) >= 8

    eventually(all_scored, 120, f"8 posts scored\n{flow.tail()}")
    eventually(lambda: set(damaging.values()) <= set(flow.delivered()), 120, "the four alerts")
    delivered = Counter(flow.delivered())
    assert {post_id: delivered[post_id] for post_id in damaging.values()} == dict.fromkeys(
        damaging.values(), 1
    )
    assert len(delivered) == 4, f"only damaging posts alert: {delivered}"
    platforms = {d.body["alert"]["post"]["platform"] for d in flow.deliveries()}
    assert platforms == {"news", "mastodon", "reddit", "bluesky"}

    chatter = [0.0]

    def reported() -> dict[str, bool]:
        # A live firehose is never quiet for a minute; keep this one talking too.
        if time.monotonic() - chatter[0] > 5:
            chatter[0] = time.monotonic()
            jetstream.add(
                commit(did, int(time.time() * 1e6), f"3lnwchat{int(chatter[0])}", post_record("hi"))
            )
        statuses = flow.monitor().get("status", {}).get("sources", [])
        last[:] = statuses
        found = {s["name"]: s["healthy"] for s in statuses}
        # The stream's health is its pod's readiness, which follows its first frames.
        return found if len(found) == 4 and all(found.values()) else {}

    last: list[Any] = []
    try:
        eventually(reported, 120, "every source healthy in status.sources")
    except pytest.fail.Exception:
        pytest.fail(f"not every source healthy in status.sources: {last}\n{flow.tail()}")
    assert "mastodon-secret-token" not in flow.operator_log()
