// Command azure-npm is the Azure network policy manager.
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
		fmt.Printf("azure-npm %s\n", version)
		return
	}
	fmt.Fprintln(os.Stderr, "azure-npm: commands are not implemented yet")
	os.Exit(1)
}
