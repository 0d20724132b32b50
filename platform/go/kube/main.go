// Command kube is a multi-call binary holding the Kubernetes control plane and kubectl,
// linked from the published k8s.io modules so the local platform can be built through the
// Go module proxy. It dispatches on the name it was invoked as (a symlink such as
// kube-apiserver) or, when called as "kube", on its first argument.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

func main() {
	name := filepath.Base(os.Args[0])
	if _, known := commands[name]; !known && name != "kubectl" {
		// Invoked under its own (possibly versioned) file name: the command comes next.
		if len(os.Args) < 2 {
			fmt.Fprintln(os.Stderr, "usage: kube {kube-apiserver|kube-controller-manager|kube-scheduler|kubectl} [flags]")
			os.Exit(2)
		}
		// Drop our own name so cobra sees the sub-command's arguments as its own.
		os.Args = os.Args[1:]
		name = os.Args[0]
	}
	if name == "kubectl" {
		// kubectl prints its own errors; RunNoErrOutput keeps them from printing twice.
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return
	}
	newCommand, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kube: unknown command %q\n", name)
		os.Exit(2)
	}
	os.Exit(cli.Run(newCommand()))
}
