// Command azure-vnet is the Azure CNI network plugin. It delegates address
// management to the IPAM plugin named in ipam.type and records attachments
// in a state file. Invoked without CNI_COMMAND (or with -v) it prints its version.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/acn-monorepo/acn/components/cni/internal/plugin"
	"github.com/acn-monorepo/acn/components/internal/cni"
)

// version is set at link time with -X main.version=<component version>.
var version = "unknown"

func main() {
	showVersion := flag.Bool("v", false, "print the version and exit")
	flag.BoolVar(showVersion, "version", false, "print the version and exit")
	flag.Parse()
	env := cni.EnvFrom(os.Getenv)
	if *showVersion || env.Command == "" {
		fmt.Printf("Azure CNI Version %s\n", version)
		return
	}
	os.Exit(plugin.Run(context.Background(), env, os.Stdin, os.Stdout, plugin.Options{
		Environ:   os.Environ(),
		StatePath: plugin.StatePath(os.Getenv),
	}))
}
