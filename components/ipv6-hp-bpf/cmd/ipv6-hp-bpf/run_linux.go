package main

import (
	"fmt"
	"os"

	"github.com/acn-monorepo/acn/components/ipv6-hp-bpf/internal/ifaces"
)

func run(o options) int {
	filter, err := ifaces.CompileFilter(o.iface)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipv6-hp-bpf: %v\n", err)
		return 2
	}
	names, err := ifaces.List(o.sysClassNet, filter)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipv6-hp-bpf: %v\n", err)
		return 1
	}
	if len(names) == 0 {
		fmt.Fprintf(os.Stderr, "ipv6-hp-bpf: no interface in %s matches\n", o.sysClassNet)
	}
	for _, n := range names {
		fmt.Println(ifaces.PlanLine(n))
	}
	if o.dryRun {
		return 0
	}
	fmt.Fprintln(os.Stderr, "ipv6-hp-bpf: attaching needs the eBPF loader (bpf(2) program load plus tc/clsact attach),"+
		" which this build does not include; nothing was attached. Use -dry-run to only print the plan.")
	return 1
}
