// Command azure-ipam is the Azure CNI IPAM plugin.
package main

import (
	"fmt"
	"os"
)

// version is set at link time with -X main.version=<component version>.
var version = "unknown"

func main() {
	if os.Getenv("CNI_COMMAND") == "" {
		fmt.Printf("CNI azure-ipam plugin %s\n", version)
		return
	}
	fmt.Fprintln(os.Stderr, "azure-ipam: CNI commands are not implemented yet")
	os.Exit(1)
}
