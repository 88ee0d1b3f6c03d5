package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	p, err := Parse([]byte(`{"name":"allow-dns","namespace":"kube-system","podSelector":{"matchLabels":{"k":"v"}},"ingress":[{}],"egress":[],"extra":true}`))
	if err != nil || p.Key() != "kube-system/allow-dns" || string(p.PodSelector) != `{"matchLabels":{"k":"v"}}` || string(p.Ingress) != `[{}]` {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := Parse([]byte(`{"name":"a","namespace":"b","podSelector":null}`)); err != nil {
		t.Fatalf("minimal policy: %v", err)
	}
	for in, want := range map[string]string{
		`{`:                            "not a JSON object",
		`[]`:                           "not a JSON object",
		`null`:                         "not a JSON object",
		`{}`:                           "name is required; namespace is required",
		`{"name":"a"}`:                 "namespace is required",
		`{"name":"a","namespace":" "}`: "namespace must not be empty",
		`{"name":1,"namespace":"n"}`:   "name must be a string",
		`{"name":"a","namespace":"n","ingress":{}}`:     "ingress must be an array",
		`{"name":"a","namespace":"n","egress":"x"}`:     "egress must be an array",
		`{"name":"a","namespace":"n","podSelector":[]}`: "podSelector must be an object",
	} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", in, err, want)
		}
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.json", `{"name":"p1","namespace":"default"}`)
	write(t, dir, "b.JSON", `{"name":"p2","namespace":"default"}`)
	write(t, dir, "c.json", `{"name":"p1","namespace":"kube-system"}`)
	write(t, dir, "d.json", `{"name":"p1","namespace":"default"}`) // duplicate of a.json
	write(t, dir, "e.json", `{broken`)
	write(t, dir, "notes.txt", `ignored`)
	write(t, dir, ".hidden.json", `{broken`)
	os.Mkdir(filepath.Join(dir, "sub.json"), 0o755)

	snap, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range snap.Policies {
		got = append(got, p.Key()+"@"+filepath.Base(p.File))
	}
	want := []string{"default/p1@a.json", "default/p2@b.JSON", "kube-system/p1@c.json"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("policies %v", got)
	}
	var bad []string
	for _, f := range snap.Invalid {
		bad = append(bad, filepath.Base(f.Path))
	}
	if !reflect.DeepEqual(bad, []string{"d.json", "e.json", "sub.json"}) {
		t.Fatalf("invalid %v", snap.Invalid)
	}
	if !strings.Contains(snap.Invalid[0].Err.Error(), "duplicate") {
		t.Fatalf("duplicate error: %v", snap.Invalid[0].Err)
	}
	if pn := snap.PerNamespace(); !reflect.DeepEqual(pn, map[string]int{"default": 2, "kube-system": 1}) {
		t.Fatalf("per namespace %v", pn)
	}
}

func TestLoadDirMissing(t *testing.T) {
	if _, err := LoadDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing dir: no error")
	}
}

func TestLoadDirTooLarge(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "big.json", `{"name":"a","namespace":"b","x":"`+strings.Repeat("x", MaxFileSize)+`"}`)
	snap, _ := LoadDir(dir)
	if len(snap.Invalid) != 1 || !strings.Contains(snap.Invalid[0].Err.Error(), "larger") {
		t.Fatalf("%+v", snap)
	}
}
