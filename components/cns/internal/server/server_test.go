package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/acn-monorepo/acn/components/cns/internal/ipam"
	"github.com/acn-monorepo/acn/components/cns/internal/state"
)

type failingStore struct{ fail bool }

func (f *failingStore) Save([]ipam.Allocation) error {
	if f.fail {
		return errors.New("disk full")
	}
	return nil
}

func newServer(t *testing.T, store Persister, cidrs ...string) *httptest.Server {
	t.Helper()
	ps, err := ipam.ParsePrefixes(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(New(ipam.NewPool(ps), store, "v1.2.3", nil).Handler())
	t.Cleanup(ts.Close)
	return ts
}

func do(t *testing.T, ts *httptest.Server, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

func podBody(name string) string {
	return fmt.Sprintf(`{"podName":%q,"podNamespace":"default","infraContainerID":"c-%s"}`, name, name)
}

func TestHealth(t *testing.T) {
	ts := newServer(t, nil, "10.240.0.0/28")
	code, m, _ := do(t, ts, "GET", "/network/health", "")
	if code != 200 || m["status"] != "ok" || m["version"] != "v1.2.3" {
		t.Fatalf("%d %v", code, m)
	}
	code, m, _ = do(t, ts, "POST", "/network/health", "")
	if code != 405 || m["code"] != CodeMethodNotAllowed {
		t.Fatalf("POST health: %d %v", code, m)
	}
	code, m, _ = do(t, ts, "GET", "/nope", "")
	if code != 404 || m["code"] != CodeNotFound {
		t.Fatalf("unknown path: %d %v", code, m)
	}
}

func TestRequestReleaseList(t *testing.T) {
	ts := newServer(t, nil, "10.240.0.0/28")
	code, m, raw := do(t, ts, "POST", "/network/requestipconfigs", podBody("a"))
	if code != 200 || m["ipAddress"] != "10.240.0.1" || m["prefixLength"] != 28.0 || m["podName"] != "a" ||
		m["podNamespace"] != "default" || m["infraContainerID"] != "c-a" || m["subnet"] != "10.240.0.0/28" {
		t.Fatalf("%d %s", code, raw)
	}
	if _, ok := m["gateway"]; ok {
		t.Fatalf("gateway present without configuration: %s", raw)
	}
	_, again, _ := do(t, ts, "POST", "/network/requestipconfigs", podBody("a"))
	if again["ipAddress"] != "10.240.0.1" {
		t.Fatalf("not idempotent: %v", again)
	}
	_, b, _ := do(t, ts, "POST", "/network/requestipconfigs", podBody("b"))
	if b["ipAddress"] != "10.240.0.2" {
		t.Fatalf("b: %v", b)
	}
	code, _, raw = do(t, ts, "GET", "/debug/ipaddresses", "")
	var list []ipam.Allocation
	if err := json.Unmarshal([]byte(raw), &list); err != nil || code != 200 || len(list) != 2 || list[1].PodName != "b" {
		t.Fatalf("list: %d %s", code, raw)
	}
	code, m, raw = do(t, ts, "POST", "/network/releaseipconfigs", podBody("a"))
	if code != 200 || m["released"] != true || m["ipAddress"] != "10.240.0.1" {
		t.Fatalf("release: %d %s", code, raw)
	}
	code, m, raw = do(t, ts, "POST", "/network/releaseipconfigs", podBody("a"))
	if code != 200 || m["released"] != false || m["reason"] != "not found" {
		t.Fatalf("second release: %d %s", code, raw)
	}
	code, m, raw = do(t, ts, "POST", "/network/releaseipconfigs", `{"podName":"b","podNamespace":"default","infraContainerID":"old"}`)
	if code != 200 || m["released"] != false {
		t.Fatalf("stale release: %d %s", code, raw)
	}
	_, _, raw = do(t, ts, "GET", "/debug/ipaddresses", "")
	if !strings.Contains(raw, `"podName":"b"`) || strings.Contains(raw, `"podName":"a"`) {
		t.Fatalf("list after release: %s", raw)
	}
}

func TestEmptyListIsArray(t *testing.T) {
	ts := newServer(t, nil)
	_, _, raw := do(t, ts, "GET", "/debug/ipaddresses", "")
	if strings.TrimSpace(raw) != "[]" {
		t.Fatalf("empty list = %q", raw)
	}
}

func TestBadRequests(t *testing.T) {
	ts := newServer(t, nil, "10.240.0.0/28")
	for _, tc := range []struct{ path, body string }{
		{"/network/requestipconfigs", ""},
		{"/network/requestipconfigs", "{"},
		{"/network/requestipconfigs", "[]"},
		{"/network/requestipconfigs", `{"podName":"a"} {}`},
		{"/network/requestipconfigs", `{"podName":"a","podNamespace":"ns"}`},
		{"/network/requestipconfigs", `{"podName":1}`},
		{"/network/releaseipconfigs", `{"podName":"a"}`},
		{"/network/releaseipconfigs", `nope`},
	} {
		code, m, raw := do(t, ts, "POST", tc.path, tc.body)
		if code != 400 || m["code"] != CodeBadRequest || m["error"] == "" {
			t.Errorf("%s %q: %d %s", tc.path, tc.body, code, raw)
		}
	}
	code, _, _ := do(t, ts, "GET", "/network/requestipconfigs", "")
	if code != 405 {
		t.Errorf("GET requestipconfigs: %d", code)
	}
}

func TestPoolExhausted(t *testing.T) {
	ts := newServer(t, nil, "10.240.0.0/30")
	do(t, ts, "POST", "/network/requestipconfigs", podBody("a"))
	do(t, ts, "POST", "/network/requestipconfigs", podBody("b"))
	code, m, raw := do(t, ts, "POST", "/network/requestipconfigs", podBody("c"))
	if code != 409 || m["code"] != CodePoolExhausted {
		t.Fatalf("%d %s", code, raw)
	}
}

func TestPersistFailureRollsBack(t *testing.T) {
	store := &failingStore{fail: true}
	ts := newServer(t, store, "10.240.0.0/28")
	code, m, _ := do(t, ts, "POST", "/network/requestipconfigs", podBody("a"))
	if code != 500 || m["code"] != CodeInternal {
		t.Fatalf("%d %v", code, m)
	}
	_, _, raw := do(t, ts, "GET", "/debug/ipaddresses", "")
	if strings.TrimSpace(raw) != "[]" {
		t.Fatalf("allocation kept after failed persist: %s", raw)
	}
	store.fail = false
	if code, _, _ := do(t, ts, "POST", "/network/requestipconfigs", podBody("a")); code != 200 {
		t.Fatalf("after recovery: %d", code)
	}
}

func TestStatePersistsAcrossRestart(t *testing.T) {
	st := state.Store{Path: filepath.Join(t.TempDir(), "s", "state.json")}
	ts := newServer(t, st, "10.240.0.0/28")
	do(t, ts, "POST", "/network/requestipconfigs", podBody("a"))
	do(t, ts, "POST", "/network/requestipconfigs", podBody("b"))
	do(t, ts, "POST", "/network/releaseipconfigs", podBody("a"))
	ts.Close()

	saved, err := st.Load()
	if err != nil || len(saved) != 1 || saved[0].PodName != "b" || saved[0].IPAddress != "10.240.0.2" {
		t.Fatalf("saved = %+v %v", saved, err)
	}
	ps, _ := ipam.ParsePrefixes([]string{"10.240.0.0/28"})
	pool := ipam.NewPool(ps)
	if errs := pool.Restore(saved); len(errs) != 0 {
		t.Fatal(errs)
	}
	ts2 := httptest.NewServer(New(pool, st, "v", nil).Handler())
	defer ts2.Close()
	_, m, _ := do(t, ts2, "POST", "/network/requestipconfigs", podBody("b"))
	if m["ipAddress"] != "10.240.0.2" {
		t.Fatalf("b after restart: %v", m)
	}
	_, m, _ = do(t, ts2, "POST", "/network/requestipconfigs", podBody("c"))
	if m["ipAddress"] != "10.240.0.1" {
		t.Fatalf("c after restart: %v", m)
	}
}

func TestConcurrentRequestsGetDistinctAddresses(t *testing.T) {
	ts := newServer(t, nil, "10.240.0.0/26")
	var wg sync.WaitGroup
	results := make([]string, 40)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Post(ts.URL+"/network/requestipconfigs", "application/json", strings.NewReader(podBody(fmt.Sprint("p", i))))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var a ipam.Allocation
			json.NewDecoder(resp.Body).Decode(&a)
			results[i] = a.IPAddress
		}(i)
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ip := range results {
		if ip == "" || seen[ip] {
			t.Fatalf("duplicate or missing address in %v", results)
		}
		seen[ip] = true
	}
}
