"""The Helm chart's generated parts: its values schema and its CRD template.

`ChartValues` is the chart's values as a pydantic model; `charts/brandmon/values.schema.json`
is generated from it (strict: no unknown keys anywhere), so `helm lint`, `helm template` and
`helm install` refuse a misspelt or mistyped value. The CRD template is the same
`brandmon_operator.crd.build_crd()` that writes crds/, wrapped in the chart's install flag
and keep policy. `make crds` writes both; unit tests fail when either is stale, when
values.yaml and the model disagree, and when the operator's environment in the rendered
Deployment and `OperatorSettings` drift apart.

    python -m brandmon_devtools.chart schema    # the values schema (JSON)
    python -m brandmon_devtools.chart crd       # the CRD template (YAML with Helm directives)
    python -m brandmon_devtools.chart admission # the caps' admission policy template
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field

from brandmon_operator import crd, secret_access
from brandmon_operator.caps import Caps, admission_policy
from brandmon_operator.settings import ConnectionProfile, KafkaSasl
from brandmon_workers.contract.base import ApiModel
from brandmon_workers.contract.topics import TOPIC_PREFIX

Schema = dict[str, Any]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
# Empty means "not set" in these values: the operator then uses its own default.
OPTIONAL_URL = r"^$|^https?://\S+$"
OPTIONAL_NAME = r"^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?([EPTGMK]i?|[mkun])?$"


class Image(ApiModel):
    """The one image: the operator (`brandmon-operator`) and every worker (its entrypoint)."""

    repository: str = Field("ghcr.io/brandmon/brandmon", min_length=1)
    """Image repository, without tag."""

    tag: str = ""
    """Image tag; empty means the chart's appVersion."""

    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    """Pull policy of the operator and of every worker container."""


class Crds(ApiModel):
    """The BrandMonitor CustomResourceDefinition."""

    install: bool = True
    """Install and upgrade the CRD with the chart (off when it is managed elsewhere)."""

    keep: bool = True
    """Keep the CRD on `helm uninstall` (helm.sh/resource-policy: keep), so users'
    BrandMonitors survive it; upgrades still change it."""


class SecretKey(ApiModel):
    """A key of a Secret in the release's namespace."""

    name: str = Field(min_length=1)
    """Secret name."""

    key: str = Field(min_length=1)
    """Key within the Secret."""


class KafkaSaslValues(KafkaSasl):
    """The operator's SASL/SCRAM sign-in; monitors then get principals of their own."""

    password_secret: SecretKey
    """Where the operator's password is (never in values)."""


class Kafka(ApiModel):
    """Default Kafka connection of monitors that do not set spec.connections.kafka."""

    bootstrap_servers: str = Field("kafka:9092", min_length=1)
    """Bootstrap servers (host:port, comma-separated)."""

    sasl: KafkaSaslValues | None = None
    """SASL/SCRAM sign-in of the operator (null: the cluster takes unauthenticated clients)."""


class Ksqldb(ApiModel):
    """Default ksqlDB connection of monitors with engine ksqldb."""

    url: str = Field("", pattern=OPTIONAL_URL)
    """REST URL; empty means none (monitors with engine ksqldb must then set their own)."""


class S3(ApiModel):
    """Default S3 location for media and archives."""

    endpoint_url: str = Field("", pattern=OPTIONAL_URL)
    """Endpoint URL; empty means AWS."""

    bucket: str = Field("brandmon", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    """Bucket."""

    region: str = Field("us-east-1", min_length=1)
    """Region."""

    credentials_secret: str = Field("", pattern=OPTIONAL_NAME, max_length=253)
    """Name of a Secret in each monitor's namespace with AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY (a reference: the chart never holds keys), each namespace's own
    key allowed only its prefix."""

    ambient_identity: bool = False
    """Let workers without a credentials Secret use their ambient AWS identity (IRSA, an
    instance profile); off, such monitors are refused."""

    allowed_prefixes: dict[str, list[str]] = Field(default={})
    """Read-only S3 prefixes monitors may use besides their own s3://<bucket>/<namespace>/,
    by namespace ("*": every namespace)."""


# ApiModel: camelCase keys, unknown keys refused, attribute docstrings as descriptions.
Quantity = Annotated[str, Field(pattern=QUANTITY)] | int | float


def _allow_all() -> list[dict[str, Any]]:
    """Return egress rules allowing everything (one rule without peers or ports)."""
    return [{}]


class WorkerQuantities(ApiModel):
    """CPU and memory of one side (requests or limits) of a worker container."""

    cpu: Quantity = "50m"
    """CPU."""

    memory: Quantity = "128Mi"
    """Memory."""


class WorkerResources(ApiModel):
    """Requests and limits of every worker container the operator creates."""

    requests: WorkerQuantities = WorkerQuantities()
    """Requests."""

    limits: WorkerQuantities = WorkerQuantities(cpu="1", memory="512Mi")
    """Limits."""


class Workers(ApiModel):
    """The pipeline workers the operator runs for each monitor."""

    resources: WorkerResources = WorkerResources()
    """Requests and limits of each worker container."""


class Quantities(ApiModel):
    """A container's resource quantities."""

    cpu: Quantity | None = None
    """CPU."""

    memory: Quantity | None = None
    """Memory."""

    ephemeral_storage: Quantity | None = Field(None, alias="ephemeral-storage")
    """Ephemeral storage (logs and the /tmp emptyDir)."""


class ContainerResources(ApiModel):
    """A container's requests and limits."""

    requests: Quantities = Quantities()
    """Requests."""

    limits: Quantities = Quantities()
    """Limits."""


class EnvVar(ApiModel):
    """One environment variable (a literal or a reference, as in a Pod spec)."""

    name: str = Field(min_length=1)
    """Name."""

    value: str | None = None
    """Literal value."""

    value_from: dict[str, Any] | None = None
    """A reference (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef)."""


class Outbound(ApiModel):
    """Limits of every call to a ksqlDB server, so no endpoint can stall the operator."""

    deadline_seconds: float = Field(15.0, gt=0, le=300)
    """Longest a call may take, connect to last byte."""

    max_response_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    """Largest answer read."""

    failures_to_pause: int = Field(3, ge=1)
    """Failed calls in a row after which calls to that server pause."""

    pause_seconds: float = Field(30.0, gt=0)
    """How long they pause before one trial call."""


class OperatorValues(ApiModel):
    """The operator's own Deployment."""

    resources: ContainerResources = ContainerResources(
        requests=Quantities(cpu="50m", memory="128Mi", ephemeral_storage="64Mi"),
        # bench/operator_scale.py measured a 362 MB peak with 500 monitors.
        limits=Quantities(cpu="500m", memory="512Mi", ephemeral_storage="256Mi"),
    )
    """Requests and limits of the operator container."""

    concurrent_reconciles: int = Field(20, ge=1, le=200)
    """Monitors reconciled at the same time (BRANDMON_OPERATOR_CONCURRENT_RECONCILES)."""

    outbound: Outbound = Outbound()
    """Limits of the operator's calls to ksqlDB servers (BRANDMON_OPERATOR_OUTBOUND_*)."""

    endpoint_slots_per_namespace: int = Field(2, ge=1)
    """Reconciles of one namespace that may wait on endpoints its monitors name, at once
    (BRANDMON_OPERATOR_ENDPOINT_SLOTS_PER_NAMESPACE)."""

    liveness_port: int = Field(8080, ge=1, le=65535)
    """Port of kopf's liveness endpoint (/healthz), probed by the kubelet."""

    extra_env: list[EnvVar] = Field(default_factory=list)
    """Extra environment variables of the operator container (e.g. proxies). Operator
    settings have their own values; do not set BRANDMON_OPERATOR_* here."""


class ServiceMonitor(ApiModel):
    """Prometheus Operator scraping of the workers' metrics."""

    enabled: bool = False
    """Render a PodMonitor (monitoring.coreos.com/v1) for every worker's `metrics` port.
    The workers have no Service, so a PodMonitor is what can select them; the Prometheus
    Operator's CRDs must be installed."""

    interval: str = Field("30s", pattern=r"^[0-9]+(ms|s|m|h)$")
    """Scrape interval."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels of the PodMonitor (e.g. the `release` label a Prometheus selects)."""


class Metrics(ApiModel):
    """Metrics: the operator has none of its own; the workers serve Prometheus metrics."""

    service_monitor: ServiceMonitor = ServiceMonitor()
    """Scraping by the Prometheus Operator."""


class Rbac(ApiModel):
    """Roles of the operator and of users."""

    create: bool = True
    """Create the operator's (Cluster)Roles and bindings."""

    aggregate_to_default_roles: bool = True
    """Add BrandMonitor access to the built-in admin, edit (editor) and view (viewer)
    ClusterRoles."""

    read_connection_secrets: bool = False
    """Let the operator get the Secrets monitors name in spec.connections.*.credentialsSecretRef
    (off: least privilege; such monitors stall with CredentialsUnavailable)."""


class AdmissionPolicy(ApiModel):
    """Enforcement of `caps` by the API server when monitors are written.

    admissionregistration.k8s.io/v1 needs Kubernetes 1.30 or later; the operator enforces
    the caps too, after the fact.
    """

    enabled: bool = True
    """Install the ValidatingAdmissionPolicies (caps, and Secrets the author may read), the
    binding of each and the caps' parameters (a ConfigMap)."""

    namespace_quotas: bool = False
    """Also put a ResourceQuota of caps.maxMonitorsPerNamespace BrandMonitors in each of
    watchNamespaces. Off by default: Kubernetes counts a new CRD's objects only at the
    quota controller's next full resync (5 minutes by default), and until then it refuses
    every BrandMonitor in those namespaces."""


class ServiceAccount(ApiModel):
    """The operator's ServiceAccount."""

    create: bool = True
    """Create it."""

    name: str = Field("", pattern=OPTIONAL_NAME, max_length=253)
    """Its name; empty means the release's full name."""

    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations (e.g. a cloud IAM role)."""


class NetworkPolicy(ApiModel):
    """A NetworkPolicy for the operator Pod."""

    enabled: bool = True
    """Admit ingress only to the liveness port (the operator serves nothing else), and
    egress by `egress`."""

    egress: list[dict[str, Any]] = Field(default_factory=_allow_all)
    """Egress rules, as in a NetworkPolicy; the default `[{}]` allows all. Narrow it to the
    API server, Kafka and ksqlDB of your cluster."""


class SeccompProfile(ApiModel):
    """A seccomp profile."""

    type: Literal["RuntimeDefault", "Localhost", "Unconfined"] = "RuntimeDefault"
    """Kind of profile."""

    localhost_profile: str | None = None
    """Profile file (type Localhost)."""


class PodSecurityContext(ApiModel):
    """The operator Pod's security context (restricted Pod Security by default)."""

    run_as_non_root: bool | None = True
    """Refuse to run as root."""

    run_as_user: int | None = Field(65532, ge=0)
    """User id."""

    run_as_group: int | None = Field(65532, ge=0)
    """Group id."""

    fs_group: int | None = Field(65532, ge=0)
    """Group of mounted volumes."""

    seccomp_profile: SeccompProfile | None = SeccompProfile()
    """Seccomp profile."""


class Capabilities(ApiModel):
    """Linux capabilities."""

    add: list[str] = Field(default_factory=list)
    """Added."""

    drop: list[str] = Field(default_factory=lambda: ["ALL"])
    """Dropped."""


class SecurityContext(ApiModel):
    """The operator container's security context (restricted Pod Security by default)."""

    allow_privilege_escalation: bool | None = False
    """No setuid gains."""

    read_only_root_filesystem: bool | None = True
    """Read-only image filesystem (/tmp is an emptyDir)."""

    run_as_non_root: bool | None = True
    """Refuse to run as root."""

    privileged: bool | None = False
    """Privileged container."""

    capabilities: Capabilities | None = Capabilities()
    """Capabilities."""

    seccomp_profile: SeccompProfile | None = None
    """Seccomp profile (the Pod's by default)."""


class Toleration(ApiModel):
    """A toleration, as in a Pod spec."""

    key: str | None = None
    """Taint key."""

    operator: Literal["Exists", "Equal"] | None = None
    """Exists or Equal."""

    value: str | None = None
    """Taint value."""

    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] | None = None
    """Taint effect; empty matches all."""

    toleration_seconds: int | None = None
    """How long a NoExecute taint is tolerated."""


class Affinity(ApiModel):
    """Affinity, as in a Pod spec (the API server validates the terms)."""

    node_affinity: dict[str, Any] | None = None
    """Node affinity."""

    pod_affinity: dict[str, Any] | None = None
    """Pod affinity."""

    pod_anti_affinity: dict[str, Any] | None = None
    """Pod anti-affinity."""


class ChartValues(ApiModel):
    """Values of the brandmon chart (charts/brandmon/values.yaml documents each one)."""

    image: Image = Image()
    """The operator and worker image."""

    crds: Crds = Crds()
    """The CustomResourceDefinition."""

    watch_namespaces: list[str] = Field([], json_schema_extra={"uniqueItems": True})
    """Namespaces the operator watches; empty means all, with a ClusterRole. When set,
    the operator gets a Role in each (they must exist) and a small ClusterRole."""

    kafka: Kafka = Kafka()
    """Default Kafka connection."""

    ksqldb: Ksqldb = Ksqldb()
    """Default ksqlDB connection."""

    s3: S3 = S3()
    """Default S3 location."""

    connection_profiles: dict[str, ConnectionProfile] = Field(default_factory=dict)
    """Named connections monitors may choose with spec.connections.profile
    (BRANDMON_OPERATOR_CONNECTION_PROFILES)."""

    allow_custom_endpoints: bool = False
    """Let monitors name their own endpoints in spec.connections
    (BRANDMON_OPERATOR_ALLOW_CUSTOM_ENDPOINTS)."""

    topic_prefix: str = Field("brandmon", pattern=TOPIC_PREFIX)
    """Prefix of every Kafka topic the operator creates."""

    resync_seconds: float = Field(60, gt=0)
    """Period of the drift-repair timer, in seconds."""

    workers: Workers = Workers()
    """The pipeline workers."""

    operator: OperatorValues = OperatorValues()
    """The operator's Deployment."""

    metrics: Metrics = Metrics()
    """Metrics scraping."""

    rbac: Rbac = Rbac()
    """RBAC."""

    service_account: ServiceAccount = ServiceAccount()
    """The operator's ServiceAccount."""

    network_policy: NetworkPolicy = NetworkPolicy()
    """The operator's NetworkPolicy."""

    pod_security_context: PodSecurityContext = PodSecurityContext()
    """The operator Pod's security context."""

    security_context: SecurityContext = SecurityContext()
    """The operator container's security context."""

    node_selector: dict[str, str] = Field(default_factory=dict)
    """Node labels the operator Pod requires."""

    tolerations: list[Toleration] = Field(default_factory=list)
    """Taints the operator Pod tolerates."""

    affinity: Affinity = Affinity()
    """The operator Pod's affinity."""

    caps: Caps = Caps()
    """Limits on what each monitor and namespace may ask for (BRANDMON_OPERATOR_CAPS and
    the admission policy's parameters); null lifts one."""

    admission_policy: AdmissionPolicy = AdmissionPolicy()
    """The ValidatingAdmissionPolicy that enforces the caps when monitors are written."""

    global_: dict[str, Any] = Field({}, alias="global")
    """Values a parent chart shares with its subcharts (unused here)."""


def _tidy(node: Any) -> Any:
    """Drop pydantic's titles, which only repeat the key names."""
    if isinstance(node, dict):
        return {k: _tidy(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    return node


def values_schema() -> Schema:
    """Return values.schema.json: the JSON Schema of ChartValues, unknown keys refused."""
    schema: Schema = _tidy(ChartValues.model_json_schema(by_alias=True, mode="validation"))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Values of the brandmon chart"
    return schema


def render_schema() -> str:
    """Return values.schema.json's text."""
    return json.dumps(values_schema(), indent=2, sort_keys=False) + "\n"


CRD_HEADER = (
    "{{/* Generated from brandmon_operator.api by `make crds`; do not edit.\n"
    "     The same CRD as crds/, behind crds.install; crds.keep keeps it (and so every\n"
    "     BrandMonitor) when the release is uninstalled. Unlike a chart's crds/ folder,\n"
    "     a template is upgraded with the chart. */}}\n"
)


def render_crd_template() -> str:
    """Return templates/crd.yaml: the generated CRD with the chart's labels and keep policy."""
    body = crd.build_crd()
    metadata = body["metadata"]
    spec = yaml.safe_dump({"spec": body["spec"]}, sort_keys=False, width=100, allow_unicode=True)
    # The CRD is YAML data: braces in descriptions must not reach the template engine.
    spec = spec.replace("{{", '{{ "{{" }}')
    return (
        CRD_HEADER
        + "{{- if .Values.crds.install }}\n"
        + f"apiVersion: {body['apiVersion']}\n"
        + f"kind: {body['kind']}\n"
        + "metadata:\n"
        + f"  name: {metadata['name']}\n"
        + "  labels:\n"
        + '    {{- include "brandmon.labels" . | nindent 4 }}\n'
        + "    app.kubernetes.io/component: crd\n"
        + "  {{- if .Values.crds.keep }}\n"
        + "  annotations:\n"
        + "    helm.sh/resource-policy: keep\n"
        + "  {{- end }}\n"
        + spec
        + "{{- end }}\n"
    )


ADMISSION_HEADER = (
    "{{/* Generated from brandmon_operator.caps and .secret_access by `make crds`; do not\n"
    "     edit. Checks when BrandMonitors are written: the caps (values: caps), by a\n"
    "     ValidatingAdmissionPolicy whose parameters are the ConfigMap below, and that the\n"
    "     author may read every Secret the monitor names. Monitors per namespace are counted\n"
    "     by the operator and, with admissionPolicy.namespaceQuotas, by a ResourceQuota in\n"
    "     each watched namespace (a policy sees one object). */}}\n"
)

# Caps that CEL cannot check on one object; the operator and a ResourceQuota hold them.
_NOT_PARAMETERS = ("maxMonitorsPerNamespace",)


def render_admission_template() -> str:
    """Return templates/admission.yaml: the caps' policy, binding, parameters and quotas."""
    policy = yaml.safe_dump(
        {"spec": {"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}}
         | admission_policy()},
        sort_keys=False, width=100, allow_unicode=True,
    )  # fmt: skip
    policy = policy.replace("{{", '{{ "{{" }}')
    secrets_policy = yaml.safe_dump(
        {"spec": secret_access.admission_policy()}, sort_keys=False, width=100, allow_unicode=True
    ).replace("{{", '{{ "{{" }}')
    skipped = " ".join(f'"{key}"' for key in _NOT_PARAMETERS)
    labels = (
        "  labels:\n"
        '    {{- include "brandmon.labels" $ | nindent 4 }}\n'
        "    app.kubernetes.io/component: admission\n"
    )
    # Bindings match the watched namespaces only, when the operator watches a list.
    watched = (
        "  {{- with .Values.watchNamespaces }}\n"
        "  matchResources:\n"
        "    namespaceSelector:\n"
        "      matchExpressions:\n"
        "        - key: kubernetes.io/metadata.name\n"
        "          operator: In\n"
        "          values: {{ toJson . }}\n"
        "  {{- end }}\n"
    )
    return (
        ADMISSION_HEADER
        + "{{- if .Values.admissionPolicy.enabled }}\n"
        + '{{- $name := printf "%s-caps" (include "brandmon.fullname" .) }}\n'
        + '{{- $secrets := printf "%s-secret-access" (include "brandmon.fullname" .) }}\n'
        + "apiVersion: v1\n"
        + "kind: ConfigMap\n"
        + "metadata:\n"
        + "  name: {{ $name }}\n"
        + "  namespace: {{ .Release.Namespace }}\n"
        + labels
        + "data:\n"
        + "  {{- range $key, $value := .Values.caps }}\n"
        + f'  {{{{- if and (not (has $key (list {skipped}))) (not (kindIs "invalid" $value)) }}}}\n'
        + "  {{ $key }}: {{ $value | int64 | toString | quote }}\n"
        + "  {{- end }}\n"
        + "  {{- end }}\n"
        + "---\n"
        + "apiVersion: admissionregistration.k8s.io/v1\n"
        + "kind: ValidatingAdmissionPolicy\n"
        + "metadata:\n"
        + "  name: {{ $name }}\n"
        + labels
        + policy
        + "---\n"
        + "apiVersion: admissionregistration.k8s.io/v1\n"
        + "kind: ValidatingAdmissionPolicyBinding\n"
        + "metadata:\n"
        + "  name: {{ $name }}\n"
        + labels
        + "spec:\n"
        + "  policyName: {{ $name }}\n"
        + "  validationActions: [Deny]\n"
        + "  paramRef:\n"
        + "    name: {{ $name }}\n"
        + "    namespace: {{ .Release.Namespace }}\n"
        # Allow, not Deny: without its parameters the policy would refuse every write of a
        # monitor, the operator's finalizer removal too (matchConditions come after the
        # parameters), and after a reinstall the API server went over a minute without
        # seeing the new ConfigMap, so deletions stuck. The operator enforces the caps anyway.
        + "    parameterNotFoundAction: Allow\n"
        + watched
        + "---\n"
        + "apiVersion: admissionregistration.k8s.io/v1\n"
        + "kind: ValidatingAdmissionPolicy\n"
        + "metadata:\n"
        + "  name: {{ $secrets }}\n"
        + labels
        + secrets_policy
        + "---\n"
        + "apiVersion: admissionregistration.k8s.io/v1\n"
        + "kind: ValidatingAdmissionPolicyBinding\n"
        + "metadata:\n"
        + "  name: {{ $secrets }}\n"
        + labels
        + "spec:\n"
        + "  policyName: {{ $secrets }}\n"
        + "  validationActions: [Deny]\n"
        + watched
        + "{{- $monitors := .Values.caps.maxMonitorsPerNamespace }}\n"
        + "{{- $quotas := .Values.admissionPolicy.namespaceQuotas }}\n"
        + '{{- if and $quotas (not (kindIs "invalid" $monitors)) }}\n'
        + "{{- range .Values.watchNamespaces }}\n"
        + "---\n"
        + "apiVersion: v1\n"
        + "kind: ResourceQuota\n"
        + "metadata:\n"
        + "  name: {{ $name }}\n"
        + "  namespace: {{ . }}\n"
        + labels
        + "spec:\n"
        + "  hard:\n"
        + "    count/brandmonitors.brandmon.io: {{ $monitors | int64 | toString | quote }}\n"
        + "{{- end }}\n"
        + "{{- end }}\n"
        + "{{- end }}\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the values schema, the CRD template or the admission template (`make crds`)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["schema"]:
        sys.stdout.write(render_schema())
    elif args == ["crd"]:
        sys.stdout.write(render_crd_template())
    elif args == ["admission"]:
        sys.stdout.write(render_admission_template())
    else:
        print("usage: python -m brandmon_devtools.chart {schema|crd|admission}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
