"""Development tooling for brandmon: the local platform, and later the local node agent.

Nothing in the operator or worker packages imports this package; it exists so that tests,
`make demo` and developers can run real Kubernetes, Kafka and S3 on a machine with no
container runtime.
"""
