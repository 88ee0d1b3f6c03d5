package ifaces

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

func fakeSys(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	devices := filepath.Join(root, "devices")
	net := filepath.Join(root, "class", "net")
	os.MkdirAll(net, 0o755)
	for _, n := range []string{"lo", "eth0", "eth1", "azv123"} {
		os.MkdirAll(filepath.Join(devices, n), 0o755)
		if runtime.GOOS == "windows" {
			os.Mkdir(filepath.Join(net, n), 0o755)
		} else if err := os.Symlink(filepath.Join(devices, n), filepath.Join(net, n)); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(net, "cni0"), 0o755) // a plain directory counts too
	os.WriteFile(filepath.Join(net, "bonding_masters"), []byte("\n"), 0o644)
	if runtime.GOOS != "windows" {
		os.Symlink(filepath.Join(devices, "gone"), filepath.Join(net, "dangling"))
	}
	return net
}

func TestListDefault(t *testing.T) {
	got, err := List(fakeSys(t), nil)
	if err != nil || !reflect.DeepEqual(got, []string{"azv123", "cni0", "eth0", "eth1"}) {
		t.Fatalf("%v %v", got, err)
	}
}

func TestListFilter(t *testing.T) {
	dir := fakeSys(t)
	for expr, want := range map[string][]string{
		"^eth":     {"eth0", "eth1"},
		"^eth0$":   {"eth0"},
		"lo":       {"lo"},
		"^nomatch": nil,
	} {
		re, err := CompileFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := List(dir, re)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v %v", expr, got, err)
		}
	}
}

func TestCompileFilter(t *testing.T) {
	if re, err := CompileFilter(""); re != nil || err != nil {
		t.Fatal("empty filter")
	}
	if _, err := CompileFilter("("); err == nil {
		t.Fatal("bad regexp accepted")
	}
}

func TestListMissingDir(t *testing.T) {
	if _, err := List(filepath.Join(t.TempDir(), "nope"), nil); err == nil {
		t.Fatal("no error")
	}
}

func TestPlanLine(t *testing.T) {
	if got := PlanLine("eth0"); got != "would attach ipv6-hp-bpf to eth0 (ingress, egress)" {
		t.Fatal(got)
	}
}
