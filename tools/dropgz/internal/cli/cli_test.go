package cli

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func gz(data string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(data))
	w.Close()
	return b.Bytes()
}

func testFS() fstest.MapFS {
	h := sha256.Sum256([]byte("vnet"))
	return fstest.MapFS{
		"azure-vnet.gz": {Data: gz("vnet")},
		"sum.txt.gz":    {Data: gz(hex.EncodeToString(h[:]) + "  azure-vnet\n")},
		"README.md":     {Data: []byte("placeholder")},
	}
}

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(args, testFS(), "v1.2.3", &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionListHelp(t *testing.T) {
	for _, a := range []string{"version", "-v", "--version"} {
		if code, out, _ := run(a); code != 0 || out != "dropgz v1.2.3\n" {
			t.Errorf("%s: %d %q", a, code, out)
		}
	}
	if code, out, _ := run("list"); code != 0 || out != "azure-vnet\n" {
		t.Errorf("list: %d %q", code, out)
	}
	if code, out, _ := run("help"); code != 0 || !strings.Contains(out, "deploy") {
		t.Errorf("help: %d %q", code, out)
	}
	for _, args := range [][]string{nil, {"bogus"}, {"list", "x"}} {
		if code, _, errOut := run(args...); code != ExitUsage || errOut == "" {
			t.Errorf("%q: %d %q", args, code, errOut)
		}
	}
}

func TestDeploy(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run("deploy", "azure-vnet", "-o", dir)
	if code != 0 || !strings.HasPrefix(out, "deployed azure-vnet to "+filepath.Join(dir, "azure-vnet")) {
		t.Fatalf("%d %q %q", code, out, errOut)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "azure-vnet")); string(data) != "vnet" {
		t.Fatalf("content %q", data)
	}
	code, _, errOut = run("deploy", "missing", "-o", dir)
	if code != ExitError || !strings.Contains(errOut, "not in the payload") {
		t.Fatalf("missing: %d %q", code, errOut)
	}
}

func TestParseDeploy(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		files []string
		dir   string
	}{
		{[]string{"a", "b", "-o", "/d"}, []string{"a", "b"}, "/d"},
		{[]string{"-o", "/d", "a"}, []string{"a"}, "/d"},
		{[]string{"a", "--output=/d"}, []string{"a"}, "/d"},
		{[]string{"-o=/d", "--", "-weird"}, []string{"-weird"}, "/d"},
	} {
		files, dir, err := parseDeploy(tc.args)
		if err != nil || dir != tc.dir || !reflect.DeepEqual(files, tc.files) {
			t.Errorf("%q: %q %q %v", tc.args, files, dir, err)
		}
	}
	for _, bad := range [][]string{{"a"}, {"-o", "/d"}, {"a", "-o"}, {"a", "-x", "/d"}, {"a", "-o", "/d", "-o", "/e"}} {
		if _, _, err := parseDeploy(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
