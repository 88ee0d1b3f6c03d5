package payload

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// makeFS builds a payload from name -> content, with a correct sum.txt.gz.
func makeFS(t *testing.T, files map[string]string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	var sums strings.Builder
	for name, content := range files {
		fsys[name+".gz"] = &fstest.MapFile{Data: gz(t, []byte(content))}
		fmt.Fprintf(&sums, "%s  %s\n", sum([]byte(content)), name)
	}
	fsys[SumFile] = &fstest.MapFile{Data: gz(t, []byte(sums.String()))}
	return fsys
}

func TestList(t *testing.T) {
	fsys := makeFS(t, map[string]string{"azure-vnet": "a", "azure-ipam": "b"})
	fsys["README.md"] = &fstest.MapFile{Data: []byte("placeholder")}
	fsys["sub/x.gz"] = &fstest.MapFile{Data: []byte("ignored")}
	names, err := New(fsys).List()
	if err != nil || !reflect.DeepEqual(names, []string{"azure-ipam", "azure-vnet"}) {
		t.Fatalf("%v %v", names, err)
	}
	names, err = New(fstest.MapFS{"README.md": {}}).List()
	if err != nil || len(names) != 0 {
		t.Fatalf("placeholder-only: %v %v", names, err)
	}
}

func TestParseSums(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("B", 64)
	got, err := ParseSums([]byte(a + "  one\r\n\n" + b + " *./two\n" + a + "  one\n"))
	if err != nil || !reflect.DeepEqual(got, map[string]string{"one": a, "two": strings.ToLower(b)}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{
		"abc  one\n",
		a + " one\n",
		a + "one\n",
		a + "  \n",
		strings.Repeat("z", 64) + "  one\n",
		a + "  one\n" + strings.Repeat("c", 64) + "  one\n",
	} {
		if _, err := ParseSums([]byte(bad)); err == nil {
			t.Errorf("ParseSums(%q) succeeded", bad)
		}
	}
}

func TestDeploy(t *testing.T) {
	fsys := makeFS(t, map[string]string{"azure-vnet": "vnet binary", "azure-ipam": "ipam binary", "other": "x"})
	dir := filepath.Join(t.TempDir(), "opt", "cni", "bin")
	// An existing file is replaced.
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "azure-vnet"), []byte("old"), 0o644)
	done, err := New(fsys).Deploy([]string{"azure-vnet", "azure-ipam"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 || done[0].Name != "azure-vnet" || done[0].SHA256 != sum([]byte("vnet binary")) || done[0].Size != 11 {
		t.Fatalf("%+v", done)
	}
	for name, want := range map[string]string{"azure-vnet": "vnet binary", "azure-ipam": "ipam binary"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(data) != want {
			t.Fatalf("%s: %q %v", name, data, err)
		}
		info, _ := os.Stat(filepath.Join(dir, name))
		if runtime.GOOS != "windows" && info.Mode().Perm() != 0o755 {
			t.Fatalf("%s mode %v", name, info.Mode())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("unexpected files: %v", entries)
	}
}

func assertUntouched(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "keep" {
		t.Fatalf("output directory modified: %v", entries)
	}
}

func TestDeployFailures(t *testing.T) {
	good := func() fstest.MapFS { return makeFS(t, map[string]string{"a": "alpha", "b": "beta"}) }

	mismatch := good()
	mismatch["b.gz"] = &fstest.MapFile{Data: gz(t, []byte("tampered"))}

	corrupt := good()
	data := append([]byte(nil), mismatch["b.gz"].Data...)
	data[len(data)-5] ^= 0xff // break the CRC/size trailer
	corrupt["b.gz"] = &fstest.MapFile{Data: data}

	notGzip := good()
	notGzip["b.gz"] = &fstest.MapFile{Data: []byte("plain text")}

	truncated := good()
	truncated["b.gz"] = &fstest.MapFile{Data: good()["b.gz"].Data[:15]}

	noSums := good()
	delete(noSums, SumFile)

	badSums := good()
	badSums[SumFile] = &fstest.MapFile{Data: []byte("not gzip")}

	missingSum := good()
	missingSum["c.gz"] = &fstest.MapFile{Data: gz(t, []byte("gamma"))}

	for name, tc := range map[string]struct {
		fsys  fstest.MapFS
		files []string
		want  error
	}{
		"checksum mismatch": {mismatch, []string{"a", "b"}, ErrChecksumMismatch},
		"corrupt gzip":      {corrupt, []string{"a", "b"}, ErrCorrupt},
		"not gzip":          {notGzip, []string{"a", "b"}, ErrCorrupt},
		"truncated gzip":    {truncated, []string{"a", "b"}, ErrCorrupt},
		"missing sum.txt":   {noSums, []string{"a"}, ErrNoSums},
		"corrupt sum.txt":   {badSums, []string{"a"}, ErrCorrupt},
		"not in payload":    {good(), []string{"a", "zzz"}, ErrNotInPayload},
		"path traversal":    {good(), []string{"../a"}, ErrNotInPayload},
		"sum.txt itself":    {good(), []string{"sum.txt"}, ErrNotInPayload},
		"no checksum":       {missingSum, []string{"c"}, ErrNoChecksum},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644)
			_, err := New(tc.fsys).Deploy(tc.files, dir)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			assertUntouched(t, dir)
		})
	}
}

func TestDeployArgumentErrors(t *testing.T) {
	p := New(makeFS(t, map[string]string{"a": "alpha"}))
	if _, err := p.Deploy(nil, t.TempDir()); err == nil {
		t.Error("no files accepted")
	}
	if _, err := p.Deploy([]string{"a"}, ""); err == nil {
		t.Error("no dir accepted")
	}
	if _, err := p.Deploy([]string{"a", "a"}, t.TempDir()); err == nil {
		t.Error("duplicate accepted")
	}
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	if _, err := p.Deploy([]string{"a"}, blocker); err == nil {
		t.Error("deploy into a regular file succeeded")
	}
}
