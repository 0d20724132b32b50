"""`make demo` on a kind cluster: its own code, checked as a PR team and a platform team would.

The stack (brandmon_devtools.kind.demo) runs on the test cluster: Kafka, MinIO and the
webhook receiver from the images the project builds, the chart's operator from the brandmon
image with in-cluster configuration and its own RBAC, the demo BrandMonitor on the Northwind
recording. Checked: exactly the damaging posts alert, one delivery each, every post archived
once; no pod restarted, was OOMKilled or failed a probe under the demo load; `make demo`
again on the same cluster (the warm path) starts clean and flags the same posts; a helm
upgrade that rolls the operator in the middle of a collection loses no post.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from brandmon_devtools.kind import cluster
from brandmon_devtools.kind import demo as stack_demo

# What examples/demo/northwind/README.md says the demo monitor must flag.
SHOULD_ALERT = ["n-020", "n-021", "n-030", "n-031", "n-032", "n-040"]
OPERATOR = "app.kubernetes.io/component=operator"


@pytest.fixture(scope="module")
def first_run(installed: stack_demo.Stack) -> stack_demo.Result:
    """The demo's first run on a fresh cluster."""
    try:
        return stack_demo.run(installed, show=lambda d: print("flagged", d.post_id, flush=True))
    except stack_demo.DemoError as error:
        pytest.fail(str(error))


def _assert_exact(result: stack_demo.Result) -> None:
    assert result.flagged == SHOULD_ALERT  # and so none of the benign posts
    assert len(result.deliveries) == len(SHOULD_ALERT), result.deliveries  # one each
    assert sorted(result.archived) == sorted(set(result.archived))  # each archived once
    assert len(result.archived) == result.posts == stack_demo.recording_posts()


def _container_states(stack: stack_demo.Stack, namespace: str, selector: str) -> list[str]:
    """`<container> <restarts> <ready> exit<code if ended> <last termination reason>` each."""
    text = stack.kubectl(
        # Finished collection Jobs' pods are not ready by design, nor is one the CronJob (every
        # minute in the demo) has just created and not started; a failed one still counts.
        "get", "pods", "-n", namespace, "-l", selector,
        "--field-selector=status.phase!=Succeeded,status.phase!=Pending",
        "-o",
        "jsonpath={range .items[*]}{range .status.containerStatuses[*]}"
        "{.name} {.restartCount} {.ready} exit{.state.terminated.exitCode} "
        "{.lastState.terminated.reason}{'\\n'}{end}{end}",
    )  # fmt: skip
    return [line for line in text.splitlines() if line.strip()]


def test_the_demo_alerts_exactly_the_damaging_posts_and_archives_each_once(
    first_run: stack_demo.Result,
) -> None:
    _assert_exact(first_run)
    body = first_run.deliveries[0].body
    # What a PR person acts on travels with the alert (issue 13): text, link, reach, why.
    context = body["alert"]["post"]
    for key in ("excerpt", "url", "platform", "author_followers", "posted_at"):
        assert context.get(key) not in (None, ""), (key, body)
    assert body["alert"]["severity"], body
    assert body["why"], body
    print(
        f"first flagged post after {first_run.first_flagged_s:.0f}s, done in {first_run.seconds:.0f}s"
    )


def test_no_pod_restarted_was_oomkilled_or_failed_a_probe(
    first_run: stack_demo.Result, stack: stack_demo.Stack
) -> None:
    assert first_run.deliveries
    workers = _container_states(
        stack, stack_demo.NAMESPACE, f"app.kubernetes.io/instance={stack_demo.MONITOR}"
    )
    operator = _container_states(stack, stack_demo.SYSTEM, OPERATOR)
    assert len(workers) >= 4, workers  # collector, analyzers, aggregator, notifier, archiver
    assert len(operator) == 1, operator
    for line in workers + operator:
        _, restarts, ready, exited, *reason = line.split()
        # A collection that has just ended well is not ready though its pod may not be
        # Succeeded yet; one that failed has restarts or a reason.
        ready = "true" if exited == "exit0" else ready
        # Ready means the readiness probe passes now; 0 restarts means liveness never failed.
        assert (restarts, ready, reason) == ("0", "true", []), line


def _operator_pod(stack: stack_demo.Stack) -> str:
    return stack.kubectl(
        "get", "pods", "-n", stack_demo.SYSTEM, "-l", OPERATOR,
        "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.uid}",
    ).strip()  # fmt: skip


def test_make_demo_again_on_the_same_cluster_starts_clean(
    first_run: stack_demo.Result, stack: stack_demo.Stack, kind_cluster: cluster.Cluster
) -> None:
    """The warm path of `make demo`, run as the Makefile runs it, on the test cluster."""
    assert first_run.deliveries
    done = subprocess.run(
        [sys.executable, "-m", "brandmon_devtools.demo", "--cluster", kind_cluster.name,
         "--exit-when-done"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rows = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("n-")]
    assert sorted(rows) == SHOULD_ALERT, done.stdout
    summary = json.loads((kind_cluster.directory / "demo-result.json").read_text())
    assert summary["flagged"] == SHOULD_ALERT
    assert summary["deliveries"] == len(SHOULD_ALERT)
    assert summary["archived"] == summary["posts"]
    print(f"warm make demo: first flagged post at {summary['first_flagged_post_s']}s, "
          f"done at {summary['seconds']}s")  # fmt: skip


def test_a_helm_upgrade_rolls_the_operator_mid_collection_without_losing_a_post(
    first_run: stack_demo.Result, stack: stack_demo.Stack
) -> None:
    assert first_run.deliveries
    before = _operator_pod(stack)
    values = stack_demo.chart_values(stack.images.brandmon, resync_seconds=11)

    def upgrade() -> None:
        # A changed operator setting: the chart rolls the operator's pod, not the workers.
        stack.install_chart(values)

    result = stack_demo.run(stack, show=lambda d: None, after_collection=upgrade)
    after = _operator_pod(stack)
    assert after, "no operator pod Running after the upgrade"
    assert after != before, "the upgrade did not roll the operator"
    _assert_exact(result)
