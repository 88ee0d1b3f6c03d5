// Command azure-ipam is the Azure CNI IPAM plugin: it obtains pod addresses
// from azure-cns. Invoked without CNI_COMMAND it prints its version.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/acn-monorepo/acn/components/azure-ipam/internal/plugin"
	"github.com/acn-monorepo/acn/components/internal/cni"
)

// version is set at link time with -X main.version=<component version>.
var version = "unknown"

func main() {
	env := cni.EnvFrom(os.Getenv)
	if env.Command == "" {
		fmt.Printf("CNI azure-ipam plugin %s\n", version)
		return
	}
	os.Exit(plugin.Run(context.Background(), env, os.Stdin, os.Stdout, plugin.DefaultFactory))
}
