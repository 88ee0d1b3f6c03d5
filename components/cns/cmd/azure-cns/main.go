// Command azure-cns is the Azure Container Network Service daemon.
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
		fmt.Println("Azure Container Network Service")
		fmt.Printf("Version %s\n", version)
		return
	}
	fmt.Fprintln(os.Stderr, "azure-cns: service mode is not implemented yet")
	os.Exit(1)
}
