package config

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestDefaults(t *testing.T) {
	o, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: ":10090", StateFile: "/var/lib/azure-cns/state.json"}
	if !reflect.DeepEqual(o.Config, want) || o.ShowVersion {
		t.Fatalf("%+v", o)
	}
}

func TestVersionFlags(t *testing.T) {
	for _, a := range []string{"-v", "-version", "--version"} {
		o, err := Parse([]string{a}, io.Discard)
		if err != nil || !o.ShowVersion {
			t.Errorf("%s: %+v %v", a, o, err)
		}
	}
}

func TestFileAndFlagPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cns.json")
	os.WriteFile(path, []byte(`{"listen":"127.0.0.1:9","ipPool":["10.0.0.0/24"],"stateFile":"/tmp/s.json","extra":1}`), 0o644)

	o, err := Parse([]string{"-config", path}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: "127.0.0.1:9", IPPool: []string{"10.0.0.0/24"}, StateFile: "/tmp/s.json"}
	if !reflect.DeepEqual(o.Config, want) {
		t.Fatalf("file only: %+v", o.Config)
	}

	o, err = Parse([]string{"-config", path, "-listen", ":1", "-ip-pool", "10.1.0.0/28, 10.2.0.0/28,", "-state-file", "/x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = Config{Listen: ":1", IPPool: []string{"10.1.0.0/28", "10.2.0.0/28"}, StateFile: "/x"}
	if !reflect.DeepEqual(o.Config, want) {
		t.Fatalf("flags over file: %+v", o.Config)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{`), 0o644)
	for _, args := range [][]string{
		{"-config", bad},
		{"-config", filepath.Join(dir, "missing.json")},
		{"-bogus"},
		{"extra"},
		{"-state-file", ""},
	} {
		if _, err := Parse(args, io.Discard); err == nil {
			t.Errorf("Parse(%q) succeeded", args)
		}
	}
}
