// Command ipv6-hp-bpf attaches the IPv6 host-policy program (Linux only).
// This build has no eBPF loader: it reports what it would attach.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/acn-monorepo/acn/components/ipv6-hp-bpf/internal/ifaces"
)

// version is set at link time with -X main.version=<component version>.
var version = "unknown"

type options struct {
	iface       string
	dryRun      bool
	sysClassNet string
}

func main() {
	var o options
	showVersion := flag.Bool("v", false, "print the version and exit")
	flag.BoolVar(showVersion, "version", false, "print the version and exit")
	flag.StringVar(&o.iface, "iface", "", "regexp selecting interfaces (default: every interface but lo)")
	flag.BoolVar(&o.dryRun, "dry-run", false, "print what would be attached and exit 0")
	flag.StringVar(&o.sysClassNet, "sys-class-net", ifaces.DefaultSysClassNet, "directory listing the network interfaces")
	flag.Parse()
	if *showVersion {
		fmt.Printf("ipv6-hp-bpf %s\n", version)
		return
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ipv6-hp-bpf: unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}
	os.Exit(run(o))
}
