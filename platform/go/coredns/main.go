// Command coredns is CoreDNS with only the plugins kubeadm's Corefile uses, built from the
// published github.com/coredns/coredns module for the kind node image. CoreDNS's own main
// links every in-tree plugin (cloud DNS providers, etcd, gRPC...), which doubles the build
// on a fresh machine for nothing the cluster runs.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// kubeadm v1.34's Corefile: errors, health, ready, kubernetes, prometheus, forward,
	// cache, loop, reload, loadbalance; log for debugging.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// The server runs directives in this order: CoreDNS's plugin.cfg order, restricted to the
// plugins above and those they register themselves (metadata, debug, dnstap, transfer).
func init() {
	dnsserver.Directives = []string{
		"metadata", "reload", "debug", "ready", "health", "prometheus", "errors", "log",
		"dnstap", "loadbalance", "cache", "transfer", "kubernetes", "loop", "forward",
	}
}

func main() { coremain.Run() }
