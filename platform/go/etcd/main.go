// Command etcd is the etcd server, built from the published go.etcd.io/etcd/server/v3
// module: `go install` refuses that module directly because of its replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
