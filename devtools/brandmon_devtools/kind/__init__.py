"""A real Kubernetes cluster in Docker (kind), created by the project with no registry.

`nodeimage` builds the kind node image for the platform's Kubernetes version from Debian
packages and the platform's own builds; `cluster` creates and deletes a cluster from it,
loads the project's images and puts back the host sysctls a kubelet changes. docs/kind.md
says how it works and what it costs.
"""
