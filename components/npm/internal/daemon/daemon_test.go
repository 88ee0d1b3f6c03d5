package daemon

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, ts *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestScanAndServe(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	d := New(dir, time.Hour, "v9", log.New(&logs, "", 0))
	ts := httptest.NewServer(d.Handler())
	defer ts.Close()

	if code, body := get(t, ts, "/healthz"); code != 200 || body != "ok" {
		t.Fatalf("healthz %d %q", code, body)
	}
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"name":"a","namespace":"default"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"name":"b","namespace":"prod"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"name":"x"}`), 0o644)
	d.Scan()
	_, body := get(t, ts, "/metrics")
	for _, want := range []string{
		"npm_num_policies 2\n",
		`npm_policies_per_namespace{namespace="default"} 1` + "\n",
		`npm_policies_per_namespace{namespace="prod"} 1` + "\n",
		"npm_invalid_policy_files 1\n",
		"npm_policy_scans_total 1\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in\n%s", want, body)
		}
	}
	if !strings.Contains(logs.String(), "skipping invalid policy file") {
		t.Fatalf("invalid file not logged: %s", logs.String())
	}
	// An unchanged directory does not log again.
	before := logs.Len()
	d.Scan()
	if logs.Len() != before {
		t.Fatalf("repeated logs: %s", logs.String()[before:])
	}
	// Removing a namespace's last policy removes its series.
	os.Remove(filepath.Join(dir, "b.json"))
	d.Scan()
	_, body = get(t, ts, "/metrics")
	if strings.Contains(body, `namespace="prod"`) || !strings.Contains(body, "npm_num_policies 1\n") {
		t.Fatalf("after removal:\n%s", body)
	}
	if code, _ := get(t, ts, "/nope"); code != 404 {
		t.Fatalf("unknown path %d", code)
	}
}

func TestMissingDirIsNotFatal(t *testing.T) {
	var logs bytes.Buffer
	d := New(filepath.Join(t.TempDir(), "missing"), time.Hour, "v", log.New(&logs, "", 0))
	d.Scan()
	if v := d.Values(); v.NumPolicies != 0 || v.Scans != 1 {
		t.Fatalf("%+v", v)
	}
	if !strings.Contains(logs.String(), "cannot read policy directory") {
		t.Fatal(logs.String())
	}
}

func TestRunPollsUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	d := New(dir, 5*time.Millisecond, "v", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"name":"a","namespace":"n"}`), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for len(d.Snapshot().Policies) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("policy never picked up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
