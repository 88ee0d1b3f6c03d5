// Command ipv6-hp-bpf attaches the IPv6 host-policy program (Linux only).
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
		fmt.Printf("ipv6-hp-bpf %s\n", version)
		return
	}
	fmt.Fprintln(os.Stderr, "ipv6-hp-bpf: attaching is not implemented yet")
	os.Exit(1)
}
