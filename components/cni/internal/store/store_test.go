package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestUpdateAndLoad(t *testing.T) {
	s := Store{Path: filepath.Join(t.TempDir(), "run", "azure-vnet.json")}
	st, err := s.Load()
	if err != nil || len(st.Attachments) != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	err = s.Update(func(st *State) error {
		st.Attachments[Key("c1", "eth0")] = Attachment{ContainerID: "c1", IfName: "eth0", Network: "azure"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err = s.Load()
	if err != nil || st.Attachments["c1/eth0"].Network != "azure" || st.Version != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	boom := errors.New("boom")
	if err := s.Update(func(st *State) error { delete(st.Attachments, "c1/eth0"); return boom }); err != boom {
		t.Fatalf("fn error not returned: %v", err)
	}
	if st, _ := s.Load(); len(st.Attachments) != 1 {
		t.Fatal("failed update was written")
	}
	entries, _ := os.ReadDir(filepath.Dir(s.Path))
	for _, e := range entries {
		if e.Name() != "azure-vnet.json" && e.Name() != "azure-vnet.json.lock" {
			t.Fatalf("stray file %s", e.Name())
		}
	}
}

func TestLoadCorruptAndEmpty(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.json")
	os.WriteFile(p, []byte("\n"), 0o644)
	if st, err := (Store{Path: p}).Load(); err != nil || st.Attachments == nil {
		t.Fatalf("empty: %+v %v", st, err)
	}
	os.WriteFile(p, []byte(`{"version":1}`), 0o644)
	if st, err := (Store{Path: p}).Load(); err != nil || st.Attachments == nil {
		t.Fatalf("no attachments key: %+v %v", st, err)
	}
	os.WriteFile(p, []byte("{oops"), 0o644)
	if _, err := (Store{Path: p}).Load(); err == nil {
		t.Fatal("corrupt accepted")
	}
	if err := (Store{Path: p}).Update(func(*State) error { return nil }); err == nil {
		t.Fatal("update over corrupt state succeeded")
	}
	os.WriteFile(p, []byte(`{"version":7,"attachments":{}}`), 0o644)
	if _, err := (Store{Path: p}).Load(); err == nil {
		t.Fatal("future version accepted")
	}
}

func TestConcurrentUpdates(t *testing.T) {
	s := Store{Path: filepath.Join(t.TempDir(), "s.json")}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.Update(func(st *State) error {
				st.Attachments[Key(fmt.Sprint("c", i), "eth0")] = Attachment{ContainerID: fmt.Sprint("c", i)}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	st, err := s.Load()
	if err != nil || len(st.Attachments) != 20 || len(st.Keys()) != 20 {
		t.Fatalf("lost updates: %d %v", len(st.Attachments), err)
	}
}
