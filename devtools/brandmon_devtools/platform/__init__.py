"""The local platform: real etcd, Kubernetes control plane, Kafka and MinIO as processes.

`pins` reads the pinned versions, `build` turns them into cached binaries, `runtime` starts,
checks and stops the processes, and `cli` is the `brandmon-platform` command the Makefile
calls. Tests use `runtime` through the fixtures in tests/conftest.py.
"""
