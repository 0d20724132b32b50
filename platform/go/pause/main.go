// Command pause is the sandbox process of every pod on the kind node (the image containerd
// names as sandbox_image): it holds the pod's namespaces open, reaps the zombies of a shared
// PID namespace, and exits on SIGINT or SIGTERM. Kubernetes' own pause is a few lines of C
// doing the same; this one builds with the Go toolchain the platform already uses.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for received := range signals {
		if received != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
