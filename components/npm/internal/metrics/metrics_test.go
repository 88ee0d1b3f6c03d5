package metrics

import (
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	var b strings.Builder
	Write(&b, Values{
		Version: "v1", NumPolicies: 3, InvalidFiles: 1, Scans: 7, LastScanTimestamp: 1700000000.5,
		PerNamespace: map[string]int{"kube-system": 1, "default": 2, `we"ird\ns`: 0},
	})
	out := b.String()
	for _, want := range []string{
		"# TYPE npm_num_policies gauge\nnpm_num_policies 3\n",
		"# TYPE npm_policies_per_namespace gauge\n" +
			"npm_policies_per_namespace{namespace=\"default\"} 2\n" +
			"npm_policies_per_namespace{namespace=\"kube-system\"} 1\n" +
			"npm_policies_per_namespace{namespace=\"we\\\"ird\\\\ns\"} 0\n",
		"# TYPE npm_invalid_policy_files gauge\nnpm_invalid_policy_files 1\n",
		"# TYPE npm_policy_scans_total counter\nnpm_policy_scans_total 7\n",
		"npm_last_scan_timestamp_seconds 1700000000.500\n",
		"npm_build_info{version=\"v1\"} 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) != 2 && !strings.Contains(line, "{") {
			t.Errorf("malformed sample line %q", line)
		}
	}
}

func TestEmptyNamespacesOmitted(t *testing.T) {
	var b strings.Builder
	Write(&b, Values{})
	if strings.Contains(b.String(), "npm_policies_per_namespace{") {
		t.Fatal("sample without namespaces")
	}
	if !strings.Contains(b.String(), "npm_num_policies 0\n") {
		t.Fatal(b.String())
	}
}
