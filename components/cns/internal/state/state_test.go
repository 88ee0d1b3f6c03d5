package state

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/acn-monorepo/acn/components/cns/internal/ipam"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "state.json")
	s := Store{Path: path}
	got, err := s.Load()
	if err != nil || got != nil {
		t.Fatalf("missing file: %v %v", got, err)
	}
	want := []ipam.Allocation{{
		IPAddress: "10.240.0.1", PrefixLength: 28, Subnet: "10.240.0.0/28",
		PodInfo: ipam.PodInfo{PodName: "p", PodNamespace: "ns", InfraContainerID: "c"},
	}}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := s.Save(nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !reflect.DeepEqual(string(data), "{\n  \"version\": 1,\n  \"allocations\": []\n}\n") {
		t.Fatalf("empty state = %q", data)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte("  \n"), 0o644)
	if got, err := (Store{Path: empty}).Load(); err != nil || got != nil {
		t.Fatalf("empty file: %v %v", got, err)
	}
	corrupt := filepath.Join(dir, "corrupt.json")
	os.WriteFile(corrupt, []byte("{not json"), 0o644)
	if _, err := (Store{Path: corrupt}).Load(); err == nil {
		t.Fatal("corrupt file accepted")
	}
	future := filepath.Join(dir, "future.json")
	os.WriteFile(future, []byte(`{"version": 99, "allocations": []}`), 0o644)
	if _, err := (Store{Path: future}).Load(); err == nil {
		t.Fatal("future version accepted")
	}
}

func TestSaveFailsWhenDirectoryIsAFile(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	if err := (Store{Path: filepath.Join(blocker, "state.json")}).Save(nil); err == nil {
		t.Fatal("Save under a regular file succeeded")
	}
}
