r"""The local node agent: a kubelet stand-in that runs Pods as local processes.

The local platform has a real control plane but no kubelet or container runtime. This
agent registers a Node (Ready, kept alive by a Lease in kube-node-lease) and runs every
container of every Pod bound to it as a process of this checkout's installation, so
Deployments, Jobs and CronJobs of the operator really run on a developer's machine:

    python -m brandmon_devtools.node --kubeconfig .platform/kubeconfig \
        --name brandmon-local --state-dir .platform/nodes/brandmon-local

What a container runs
    Its `command` (+ `args`) when set, looked up in the interpreter's bin directory (the
    console scripts: `brandmon-worker`, `python`, ...) and then PATH. Images are never
    pulled: without a `command`, an image whose repository's last segment is `brandmon`
    (e.g. ghcr.io/brandmon/brandmon:0.1.0) runs `brandmon-worker <args>`, and
    `--entrypoint IMAGE_PREFIX=COMMAND` maps other images. An unmapped image leaves the
    container waiting with reason ImageNotMapped (the Pod stays Pending).

What it sees
    The Pod's environment as Kubernetes builds it (envFrom ConfigMaps and Secrets with
    prefixes, env literals with $(VAR) expansion, configMapKeyRef, secretKeyRef, fieldRef
    and resourceFieldRef; `optional` honoured; a missing reference leaves the container
    waiting with CreateContainerConfigError), plus PATH, HOME (the Pod's directory), LANG
    and HOSTNAME (the Pod's hostname or name); the agent's own environment is not passed
    on. Its working directory is the Pod's directory. Volumes cannot appear at their
    mountPath, so each is a directory under `<pod dir>/volumes/<volume>/` (emptyDir:
    empty; configMap, secret, downwardAPI and projected: their files, including a
    service-account token bound to the Pod; hostPath: the host path itself) and every
    mount's directory is exported as BRANDMON_NODE_MOUNT_<VOLUME> (upper case,
    non-alphanumerics as _); a mount at /tmp also sets TMPDIR.

Its service account
    In-cluster clients read /var/run/secrets/kubernetes.io/serviceaccount, which a process
    cannot see. When a container mounts a volume there (the ServiceAccount admission plugin
    adds `kube-api-access-*` unless automountServiceAccountToken is false), the agent
    writes `<pod dir>/kubeconfig` (mode 0600): the API server address and CA the agent
    itself uses, and the Pod-bound token of that volume as `tokenFile` and inline (kopf's
    kubeconfig login and the Python client read only an inline token), in the Pod's
    namespace; KUBECONFIG names it unless the container sets KUBECONFIG itself. Clients
    that fall back from in-cluster config to KUBECONFIG (the operator, kubectl) so act as
    the Pod's ServiceAccount with exactly its RBAC. The token is requested once per Pod
    (one hour) and not rotated.

Where things are kept (`<pod dir>` is `<state-dir>/pods/<namespace>_<pod>_<uid>/`; it
outlives the Pod, for inspection: delete the state directory to clean up)
    `<pod dir>/<container>.log`
        stdout and stderr of every run, each run after a line
        `--- <container> run <n>: <command> at <time> ---`. `kubectl logs [-p] [-f]` works
        too: the agent serves the kubelet's log endpoint (HTTPS, self-signed, on a free
        port recorded in the Node's status), which the API server proxies to.
    `<pod dir>/<container>.termination-log`
        the termination message file. A process cannot write /dev/termination-log, so
        BRANDMON_TERMINATION_LOG names this file (the collector writes its report there);
        it is read when the process exits. With FallbackToLogsOnError, a failed process
        that wrote nothing gets the last 80 lines (at most 2048 bytes) of its run's log.
    `<pod dir>/<container>.ports.json`
        the port remapping below, as {"declared port": local port}.

Ports
    Every process shares the host's network, and every worker wants 8080 (health) and 9102
    (metrics). A container that runs `brandmon-worker` therefore gets two free ports, set
    as BRANDMON_HEALTH_PORT and BRANDMON_METRICS_PORT (overriding the ConfigMap's), kept
    across its restarts; its probes follow them. Other processes must pick free ports
    themselves.

Lifecycle
    Pending until the containers start, then Running; Succeeded or Failed when they have
    all ended for good. Restart policies Always, OnFailure and Never are honoured, with a
    back-off of 1 s doubling to 60 s (CrashLoopBackOff while waiting). httpGet, tcpSocket
    and exec readiness and liveness probes run against the local process (no readiness
    probe: ready while running; liveness failures restart the container). Status is patched
    only when it changes. Deleting a Pod sends SIGTERM to each container's process group,
    SIGKILL after the grace period, reports the final status and deletes the Pod with grace
    0. Stopping the agent (SIGTERM, Ctrl-C) stops every process the same way and reports
    the exits, so a Never Pod ends Failed; the next agent of that name restarts Always and
    OnFailure Pods (the lost run counts as a restart), and kills, through their pid files,
    any processes of an agent that was killed outright.

Sharing the platform
    `--taint KEY[=VALUE]:EFFECT` keeps the scheduler from sending a node any Pod that does
    not tolerate it (Pods naming the node in spec.nodeName still run), so that several
    agents, for example the tests' and a demo's, can share one control plane.

Not supported: init and sidecar containers (the Pod stays Pending with reason
InitContainersNotSupported), startup and gRPC probes (ignored), resource limits, security
contexts, service environment variables, Events, exec/attach/port-forward.
"""
