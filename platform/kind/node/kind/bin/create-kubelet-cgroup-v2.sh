#!/bin/bash
# cgroup v2 only, run by the kubelet unit once systemd has moved itself out of the root
# cgroup: the kubelet needs every controller enabled in /kubelet and /kubelet.slice.
set -o errexit -o nounset -o pipefail
enable_all() {
  sed -e 's/ / +/g' -e 's/^/+/' <"/sys/fs/cgroup/$1/cgroup.controllers" >"/sys/fs/cgroup/$1/cgroup.subtree_control"
}
enable_all /
for group in kubelet kubelet.slice; do
  mkdir -p "/sys/fs/cgroup/$group"
  enable_all "/$group"
done
