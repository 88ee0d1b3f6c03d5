// Command azure-vnet is the Azure CNI network plugin.
package main

import (
	"flag"
	"fmt"
	"os"
)

// version is set at link time with -X main.version=<component version>.
var version = "unknown"

func main() {
	showVersion := flag.Bool("v", false, "print the version and exit")
	flag.BoolVar(showVersion, "version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("Azure CNI Version %s\n", version)
		return
	}
	fmt.Fprintln(os.Stderr, "azure-vnet: CNI commands are not implemented yet")
	os.Exit(1)
}
