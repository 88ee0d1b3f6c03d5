// Package ifaces selects the network interfaces ipv6-hp-bpf attaches to, by
// reading a sysfs-style directory (/sys/class/net: one entry per interface).
package ifaces

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// DefaultSysClassNet is where Linux lists network interfaces.
const DefaultSysClassNet = "/sys/class/net"

// Loopback is excluded when no filter is given.
const Loopback = "lo"

// List returns the interface names under dir, sorted. Entries that are not
// directories (after following symlinks), such as bonding_masters, are not
// interfaces and are skipped. With a nil filter every interface but "lo" is
// returned; otherwise exactly those whose name matches filter (unanchored,
// use ^...$ to match whole names).
func List(dir string, filter *regexp.Regexp) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !info.IsDir() {
			continue
		}
		if filter == nil {
			if name == Loopback {
				continue
			}
		} else if !filter.MatchString(name) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// CompileFilter compiles the -iface flag; "" means no filter (nil).
func CompileFilter(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid -iface regexp %q: %v", expr, err)
	}
	return re, nil
}

// PlanLine is the line printed for one interface.
func PlanLine(iface string) string {
	return fmt.Sprintf("would attach ipv6-hp-bpf to %s (ingress, egress)", iface)
}
