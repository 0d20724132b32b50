#!/usr/bin/env bash
# End-to-end on a kind cluster, for machines with Docker: build the image, create a cluster,
# install Kafka, MinIO and a webhook receiver, install the chart, apply the demo monitor and
# check that exactly the demo's damaging posts are alerted. docs/kind.md explains it.
#
# It cannot run on the project's own machines (no Docker) and has never been run there.
#
#   tests/e2e/kind/run.sh            # tears the cluster down at the end
#   KEEP=1 tests/e2e/kind/run.sh     # keeps it (kubectl --context kind-brandmon-e2e ...)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CLUSTER=${CLUSTER:-brandmon-e2e}
IMAGE=${IMAGE:-brandmon:e2e}
# kind v0.30's node image for Kubernetes 1.34, the minor version the local platform runs.
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.34.0}
TIMEOUT=${TIMEOUT:-600}
KEEP=${KEEP:-0}
INFRA=brandmon-infra
DEMO=demo
SYSTEM=brandmon-system
MONITOR=northwind
DATASET=$ROOT/examples/demo/northwind
# The posts the demo must flag, no more and no fewer (tests/platform/test_demo.py,
# SHOULD_ALERT; a unit test keeps the two equal).
EXPECTED="n-020 n-021 n-030 n-031 n-032 n-040"

log() { printf '[kind-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
  log "FAIL: $*"
  exit 1
}
kctl() { kubectl --context "kind-$CLUSTER" "$@"; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool is not on PATH; this path needs docker, kind, kubectl and helm (docs/kind.md)"
done
docker info >/dev/null 2>&1 || die "docker is installed but its daemon does not answer"
[[ -f $ROOT/charts/brandmon/Chart.yaml ]] || die "no chart at charts/brandmon"

diagnose() {
  log "diagnostics"
  kctl get pods -A -o wide || true
  kctl -n "$DEMO" get brandmonitors,cronjobs,jobs,deployments || true
  kctl -n "$DEMO" get brandmonitor "$MONITOR" -o jsonpath='{.status.conditions}' || true
  echo
  kctl -n "$SYSTEM" logs -l app.kubernetes.io/component=operator --tail=80 || true
  kctl -n "$DEMO" get events --sort-by=.lastTimestamp | tail -40 || true
}

cleanup() {
  local code=$?
  if [[ $code -ne 0 ]]; then
    diagnose
  fi
  if [[ $KEEP == 1 ]]; then
    log "KEEP=1: cluster kept; delete it with: kind delete cluster --name $CLUSTER"
  else
    log "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
  exit "$code"
}

# wait_for WHAT COMMAND...: retry COMMAND every 5 s until it succeeds or TIMEOUT passes.
wait_for() {
  local what=$1 deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || die "timed out after ${TIMEOUT}s waiting for $what"
    sleep 5
  done
}

# Messages in one topic (the sum of its partitions' end offsets; 0 before it exists).
topic_size() {
  kctl -n "$INFRA" exec deploy/kafka -- env KAFKA_HEAP_OPTS=-Xmx128m \
    /opt/kafka/bin/kafka-get-offsets.sh --bootstrap-server localhost:9092 --topic "$1" \
    2>/dev/null | awk -F: '{ s += $NF } END { print s + 0 }'
}

# Post ids of the webhook deliveries so far, one per delivery.
delivered() {
  kctl -n "$INFRA" logs deploy/webhook | awk '$1 == "delivered" { print $2 }'
}

all_scored() { (($(topic_size "brandmon.$DEMO.$MONITOR.scored-posts") >= POSTS)); }
# The alert count is read again each time: the last alerts may still be on their way.
all_delivered() {
  ALERTS=$(topic_size "brandmon.$DEMO.$MONITOR.alerts")
  ((ALERTS > 0 && $(delivered | sort -u | wc -l) >= ALERTS))
}

log "building $IMAGE"
docker build --tag "$IMAGE" --build-arg VERSION=e2e \
  --build-arg REVISION="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" "$ROOT"

log "creating kind cluster $CLUSTER ($KIND_NODE_IMAGE)"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  die "a kind cluster named $CLUSTER exists already; delete it or set CLUSTER"
fi
trap cleanup EXIT
kind create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" --wait 180s
kind load docker-image "$IMAGE" --name "$CLUSTER"

log "Kafka, MinIO and the webhook receiver in $INFRA"
kctl create namespace "$INFRA"
kctl create namespace "$DEMO"
S3_USER=brandmon-e2e
S3_PASSWORD=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
# Secrets from files, not arguments: nothing shows up in the process list.
for target in "$INFRA/minio-root" "$DEMO/s3-credentials"; do
  kctl -n "${target%/*}" create secret generic "${target#*/}" --from-env-file=<(
    printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$S3_USER" "$S3_PASSWORD"
  )
done
kctl -n "$INFRA" create configmap e2e-scripts \
  --from-file="$HERE/receiver.py" --from-file="$HERE/upload.py"
sed "s|BRANDMON_IMAGE|$IMAGE|g" "$HERE/infra.yaml" | kctl apply -f -
kctl -n "$INFRA" wait --for=condition=Available deploy/kafka deploy/minio deploy/webhook \
  --timeout="${TIMEOUT}s"

log "uploading the Northwind recording to s3://brandmon-demo/demo/northwind/"
kctl -n "$INFRA" create configmap northwind-dataset \
  --from-file="$DATASET/posts.jsonl" --from-file="$DATASET/images/"
sed "s|BRANDMON_IMAGE|$IMAGE|g" "$HERE/upload-job.yaml" | kctl apply -f -
kctl -n "$INFRA" wait --for=condition=Complete job/upload-dataset --timeout="${TIMEOUT}s"

log "installing the chart"
helm install brandmon "$ROOT/charts/brandmon" --kube-context "kind-$CLUSTER" \
  --namespace "$SYSTEM" --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" \
  --set image.pullPolicy=Never \
  --set "watchNamespaces={$DEMO}" \
  --set kafka.bootstrapServers="kafka.$INFRA.svc.cluster.local:9092" \
  --set s3.endpointUrl="http://minio.$INFRA.svc.cluster.local:9000" \
  --set s3.bucket=brandmon-demo --set s3.region=us-east-1 \
  --set s3.credentialsSecret=s3-credentials \
  --set resyncSeconds=10 \
  --wait --timeout "${TIMEOUT}s"

log "applying the demo monitor"
kctl -n "$DEMO" create secret generic pr-webhook --from-env-file=<(
  printf 'url=http://webhook.%s.svc.cluster.local:8080/pr-team\n' "$INFRA"
)
kctl -n "$DEMO" apply -f "$ROOT/examples/demo/northwind.yaml"
kctl -n "$DEMO" wait --for=condition=Ready "brandmonitor/$MONITOR" --timeout="${TIMEOUT}s"
kctl -n "$DEMO" wait --for=condition=Available deployment \
  -l "app.kubernetes.io/instance=$MONITOR" --timeout="${TIMEOUT}s"

log "starting the first collection now"
kctl -n "$DEMO" create job --from="cronjob/$MONITOR-src-recorded" "$MONITOR-now"

POSTS=$(grep -c '"post"' "$DATASET/posts.jsonl")
wait_for "$POSTS posts scored" all_scored
ALERTS=0
wait_for "every alert in Kafka delivered" all_delivered

FLAGGED=$(delivered | sort -u | tr '\n' ' ' | sed 's/ $//')
DELIVERIES=$(delivered | wc -l | tr -d ' ')
log "flagged: $FLAGGED ($DELIVERIES deliveries of $ALERTS alerts; $POSTS posts scored)"
kctl -n "$DEMO" get brandmonitor "$MONITOR"
[[ $FLAGGED == "$EXPECTED" ]] || die "flagged posts differ: expected $EXPECTED"
# One delivery per flagged post: the notifier's dedupe holds across the pipeline.
[[ $DELIVERIES -eq $(wc -w <<<"$EXPECTED") ]] || die "$DELIVERIES deliveries for $(wc -w <<<"$EXPECTED") posts"
log "PASS"
