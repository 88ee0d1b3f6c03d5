//go:build !linux

package main

import (
	"fmt"
	"os"
)

func run(options) int {
	fmt.Fprintln(os.Stderr, "ipv6-hp-bpf only runs on Linux")
	return 1
}
