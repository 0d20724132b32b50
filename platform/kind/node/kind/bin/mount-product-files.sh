#!/bin/bash
# containerd createContainer hook (cri-base.json): gives each container its own copy of the
# node's product name and uuid, so containers do not all bind-mount the same file.
set -o errexit -o nounset -o pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
bundle=$(jq -r .bundle)
cp /kind/product_* "$bundle/rootfs/"
for file in /sys/class/dmi/id/product_name; do
  [[ -f $file ]] && mount -o ro,bind "$bundle/rootfs/product_name" "$bundle/rootfs$file"
done
for file in /sys/class/dmi/id/product_uuid /sys/devices/virtual/dmi/id/product_uuid; do
  [[ -f $file ]] && mount -o ro,bind "$bundle/rootfs/product_uuid" "$bundle/rootfs$file"
done
exit 0
