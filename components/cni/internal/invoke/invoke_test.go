package invoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/acn-monorepo/acn/components/internal/cni"
)

// TestMain lets the test binary act as a fake plugin when re-executed.
func TestMain(m *testing.M) {
	switch os.Getenv("FAKE_PLUGIN_MODE") {
	case "ok":
		in, _ := io.ReadAll(os.Stdin)
		fmt.Printf(`{"command":%q,"stdin":%q}`, os.Getenv("CNI_COMMAND"), in)
		os.Exit(0)
	case "cni-error":
		fmt.Print(`{"cniVersion":"1.0.0","code":11,"msg":"try later","details":"cns down"}`)
		os.Exit(1)
	case "garbage":
		fmt.Fprint(os.Stderr, "panic: something")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func TestSplitPath(t *testing.T) {
	sep := string(os.PathListSeparator)
	got := SplitPath(" /a" + sep + sep + "/b ")
	if !reflect.DeepEqual(got, []string{"/a", "/b"}) {
		t.Fatalf("%q", got)
	}
	if SplitPath("") != nil {
		t.Fatal("empty path")
	}
}

func TestWithCommand(t *testing.T) {
	got := WithCommand([]string{"A=1", "CNI_COMMAND=ADD", "B=2"}, "DEL")
	if !reflect.DeepEqual(got, []string{"A=1", "B=2", "CNI_COMMAND=DEL"}) {
		t.Fatalf("%q", got)
	}
}

func TestFindInPath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("exec bits")
	}
	d1, d2 := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(d1, "ipam"), []byte("x"), 0o644) // not executable
	os.Mkdir(filepath.Join(d1, "dir-plugin"), 0o755)
	os.WriteFile(filepath.Join(d2, "ipam"), []byte("x"), 0o755)
	got, err := FindInPath("ipam", []string{filepath.Join(d1, "missing"), d1, d2})
	if err != nil || got != filepath.Join(d2, "ipam") {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := FindInPath("dir-plugin", []string{d1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("directory found as plugin: %v", err)
	}
	for _, bad := range []string{"", "..", "../ipam", "/bin/sh"} {
		if _, err := FindInPath(bad, []string{d2}); err == nil {
			t.Errorf("FindInPath(%q) succeeded", bad)
		}
	}
}

func TestExec(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := func(mode string) []string {
		return append(os.Environ(), "FAKE_PLUGIN_MODE="+mode, "CNI_COMMAND=ADD")
	}
	out, err := Exec(context.Background(), self, env("ok"), []byte(`{"x":1}`))
	if err != nil || string(out) != `{"command":"ADD","stdin":"{\"x\":1}"}` {
		t.Fatalf("%s %v", out, err)
	}
	_, err = Exec(context.Background(), self, env("cni-error"), nil)
	var cerr *cni.Error
	if !errors.As(err, &cerr) || cerr.Code != 11 || cerr.Details != "cns down" {
		t.Fatalf("cni error: %v", err)
	}
	_, err = Exec(context.Background(), self, env("garbage"), nil)
	if err == nil || errors.As(err, &cerr) || !strings.Contains(err.Error(), "panic: something") {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := Exec(context.Background(), filepath.Join(t.TempDir(), "nope"), nil, nil); err == nil {
		t.Fatal("missing binary ran")
	}
}
