// Package metrics renders azure-npm metrics in the Prometheus text
// exposition format (version 0.0.4).
package metrics

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// ContentType is the Content-Type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Values are the numbers behind one /metrics scrape.
type Values struct {
	Version           string
	NumPolicies       int
	PerNamespace      map[string]int
	InvalidFiles      int
	Scans             uint64
	LastScanTimestamp float64 // unix seconds; 0 before the first scan
}

// EscapeLabel escapes a label value (backslash, double quote, newline).
func EscapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func header(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// Write renders v.
func Write(w io.Writer, v Values) {
	header(w, "npm_num_policies", "gauge", "Number of valid network policies loaded from the policy directory.")
	fmt.Fprintf(w, "npm_num_policies %d\n", v.NumPolicies)

	header(w, "npm_policies_per_namespace", "gauge", "Number of valid network policies per namespace.")
	namespaces := make([]string, 0, len(v.PerNamespace))
	for ns := range v.PerNamespace {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		fmt.Fprintf(w, "npm_policies_per_namespace{namespace=\"%s\"} %d\n", EscapeLabel(ns), v.PerNamespace[ns])
	}

	header(w, "npm_invalid_policy_files", "gauge", "Number of policy files skipped because they are invalid.")
	fmt.Fprintf(w, "npm_invalid_policy_files %d\n", v.InvalidFiles)

	header(w, "npm_policy_scans_total", "counter", "Number of policy directory scans.")
	fmt.Fprintf(w, "npm_policy_scans_total %d\n", v.Scans)

	header(w, "npm_last_scan_timestamp_seconds", "gauge", "Unix time of the last policy directory scan.")
	fmt.Fprintf(w, "npm_last_scan_timestamp_seconds %.3f\n", v.LastScanTimestamp)

	header(w, "npm_build_info", "gauge", "azure-npm build information.")
	fmt.Fprintf(w, "npm_build_info{version=\"%s\"} 1\n", EscapeLabel(v.Version))
}
