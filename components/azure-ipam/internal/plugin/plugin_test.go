package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/acn-monorepo/acn/components/azure-ipam/internal/cnsclient"
	"github.com/acn-monorepo/acn/components/internal/cni"
)

// fakeCNS is an in-memory cns.
type fakeCNS struct {
	mu      sync.Mutex
	allocs  map[string]cnsclient.Allocation
	next    int
	err     error
	gateway string
	urls    []string
}

func newFake() *fakeCNS { return &fakeCNS{allocs: map[string]cnsclient.Allocation{}, next: 1} }

func (f *fakeCNS) factory(u string) (CNS, error) {
	f.urls = append(f.urls, u)
	return f, nil
}

func (f *fakeCNS) RequestIPConfig(_ context.Context, r cnsclient.PodRequest) (cnsclient.Allocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return cnsclient.Allocation{}, f.err
	}
	k := r.PodNamespace + "/" + r.PodName
	a, ok := f.allocs[k]
	if !ok {
		a = cnsclient.Allocation{IPAddress: fmt.Sprintf("10.240.0.%d", f.next), PrefixLength: 28, Gateway: f.gateway}
		f.next++
	}
	a.PodName, a.PodNamespace, a.InfraContainerID = r.PodName, r.PodNamespace, r.InfraContainerID
	f.allocs[k] = a
	return a, nil
}

func (f *fakeCNS) ReleaseIPConfig(_ context.Context, r cnsclient.PodRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	k := r.PodNamespace + "/" + r.PodName
	if a, ok := f.allocs[k]; ok && a.InfraContainerID == r.InfraContainerID {
		delete(f.allocs, k)
	}
	return nil
}

func (f *fakeCNS) ListIPAddresses(context.Context) ([]cnsclient.Allocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []cnsclient.Allocation
	for _, a := range f.allocs {
		out = append(out, a)
	}
	return out, nil
}

const conf = `{"cniVersion":"1.0.0","name":"azure","type":"azure-ipam","ipam":{"type":"azure-ipam","cnsUrl":"http://cns:10090"}}`

func env(cmd string) cni.Env {
	return cni.Env{Command: cmd, ContainerID: "ctr-1", IfName: "eth0", Netns: "/var/run/netns/x",
		Args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"}
}

func invoke(t *testing.T, e cni.Env, stdin string, f Factory) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := Run(context.Background(), e, strings.NewReader(stdin), &out, f)
	return code, out.String()
}

func wantError(t *testing.T, code int, out string, cniCode uint) cni.Error {
	t.Helper()
	var e cni.Error
	if err := json.Unmarshal([]byte(out), &e); err != nil || code == 0 || e.Code != cniCode || e.Msg == "" {
		t.Fatalf("exit %d, output %q: want CNI error code %d", code, out, cniCode)
	}
	return e
}

func TestVersion(t *testing.T) {
	code, out := invoke(t, cni.Env{Command: "VERSION"}, "", newFake().factory)
	if code != 0 || strings.TrimSpace(out) != `{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}` {
		t.Fatalf("%d %s", code, out)
	}
}

func TestAddDelCheck(t *testing.T) {
	f := newFake()
	code, out := invoke(t, env("ADD"), conf, f.factory)
	if code != 0 || strings.TrimSpace(out) != `{"cniVersion":"1.0.0","ips":[{"address":"10.240.0.1/28"}]}` {
		t.Fatalf("ADD: %d %s", code, out)
	}
	if f.urls[0] != "http://cns:10090" {
		t.Fatalf("url %v", f.urls)
	}
	// CHECK with and without a matching prevResult.
	withPrev := strings.TrimSuffix(conf, "}") + `,"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.240.0.1/28"}]}}`
	if code, out := invoke(t, env("CHECK"), withPrev, f.factory); code != 0 || out != "" {
		t.Fatalf("CHECK: %d %s", code, out)
	}
	if code, out := invoke(t, env("CHECK"), conf, f.factory); code != 0 || out != "" {
		t.Fatalf("CHECK without prevResult: %d %s", code, out)
	}
	wrongPrev := strings.Replace(withPrev, "10.240.0.1/28", "10.240.0.9/28", 1)
	wantError(t, 1, mustOut(invoke(t, env("CHECK"), wrongPrev, f.factory)), cni.CodeInternal)
	other := env("CHECK")
	other.ContainerID = "ctr-old"
	wantError(t, 1, mustOut(invoke(t, other, conf, f.factory)), cni.CodeInternal)

	code, out = invoke(t, env("DEL"), conf, f.factory)
	if code != 0 || out != "" {
		t.Fatalf("DEL: %d %s", code, out)
	}
	if len(f.allocs) != 0 {
		t.Fatalf("allocation left after DEL: %v", f.allocs)
	}
	// DEL is idempotent; CHECK now fails.
	if code, _ := invoke(t, env("DEL"), conf, f.factory); code != 0 {
		t.Fatal("second DEL failed")
	}
	wantError(t, 1, mustOut(invoke(t, env("CHECK"), conf, f.factory)), cni.CodeInternal)
}

func mustOut(code int, out string) string {
	if code == 0 {
		return "exit 0: " + out
	}
	return out
}

func TestAddOlderVersionAndGateway(t *testing.T) {
	f := newFake()
	f.gateway = "10.240.0.14"
	c := strings.Replace(conf, `"1.0.0"`, `"0.4.0"`, 1)
	code, out := invoke(t, env("ADD"), c, f.factory)
	if code != 0 || strings.TrimSpace(out) != `{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.240.0.1/28","gateway":"10.240.0.14"}]}` {
		t.Fatalf("%d %s", code, out)
	}
	c = strings.Replace(conf, `"1.0.0"`, `"0.3.1"`, 1)
	e := wantError(t, 1, mustOut(invoke(t, env("CHECK"), c, f.factory)), cni.CodeIncompatibleVersion)
	if e.CNIVersion != "0.3.1" {
		t.Fatalf("error version %q", e.CNIVersion)
	}
}

func TestCNSURLSelection(t *testing.T) {
	for stdin, want := range map[string]string{
		`{"cniVersion":"1.0.0","name":"n","type":"azure-ipam"}`:                                                        cnsclient.DefaultURL,
		`{"cniVersion":"1.0.0","name":"n","type":"azure-ipam","cnsUrl":"http://top:1"}`:                                "http://top:1",
		`{"cniVersion":"1.0.0","name":"n","type":"azure-ipam","cnsUrl":"http://top:1","ipam":{"cnsUrl":"http://i:2"}}`: "http://i:2",
	} {
		f := newFake()
		if code, out := invoke(t, env("ADD"), stdin, f.factory); code != 0 || f.urls[0] != want {
			t.Errorf("%s: %d %s %v", stdin, code, out, f.urls)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFake()
	noID := env("ADD")
	noID.ContainerID = ""
	noArgs := env("ADD")
	noArgs.Args = "IgnoreUnknown=1"
	badArgs := env("ADD")
	badArgs.Args = "garbage"
	for name, tc := range map[string]struct {
		env   cni.Env
		stdin string
		code  uint
	}{
		"no command":      {cni.Env{}, conf, cni.CodeInvalidEnv},
		"unknown command": {env("GC"), conf, cni.CodeInvalidEnv},
		"no container id": {noID, conf, cni.CodeInvalidEnv},
		"no pod args":     {noArgs, conf, cni.CodeInvalidEnv},
		"bad args":        {badArgs, conf, cni.CodeInvalidEnv},
		"empty stdin":     {env("ADD"), "", cni.CodeDecodingFailure},
		"bad json":        {env("ADD"), "{nope", cni.CodeDecodingFailure},
		"no cniVersion":   {env("ADD"), `{"name":"n"}`, cni.CodeInvalidNetworkConfig},
		"bad cniVersion":  {env("DEL"), `{"cniVersion":"0.1.0"}`, cni.CodeIncompatibleVersion},
		"bad cnsUrl":      {env("ADD"), `{"cniVersion":"1.0.0","ipam":{"cnsUrl":"cns:10090"}}`, cni.CodeInvalidNetworkConfig},
	} {
		code, out := invoke(t, tc.env, tc.stdin, f.factory)
		t.Run(name, func(t *testing.T) { wantError(t, code, out, tc.code) })
	}
}

func TestCNSFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		code uint
	}{
		"unreachable": {fmt.Errorf("%w: connection refused", cnsclient.ErrUnreachable), cni.CodeTryAgainLater},
		"503":         {&cnsclient.APIError{Status: 503, Message: "busy"}, cni.CodeTryAgainLater},
		"exhausted":   {&cnsclient.APIError{Status: 409, Code: "PoolExhausted", Message: "full"}, cni.CodeInternal},
		"other":       {errors.New("boom"), cni.CodeInternal},
	} {
		f := newFake()
		f.err = tc.err
		for _, cmd := range []string{"ADD", "DEL", "CHECK"} {
			code, out := invoke(t, env(cmd), conf, f.factory)
			t.Run(name+"/"+cmd, func(t *testing.T) {
				e := wantError(t, code, out, tc.code)
				if e.Details == "" {
					t.Error("no details")
				}
			})
		}
	}
}

// TestAgainstHTTPServer runs the real client against a stub cns.
func TestAgainstHTTPServer(t *testing.T) {
	var gotBody map[string]string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&gotBody)
		w.Write([]byte(`{"ipAddress":"10.240.0.4","prefixLength":28,"podName":"web-0","podNamespace":"default","infraContainerID":"ctr-1"}`))
	}))
	defer ts.Close()
	stdin := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"n","type":"azure-ipam","cnsUrl":%q}`, ts.URL)
	code, out := invoke(t, env("ADD"), stdin, DefaultFactory)
	if code != 0 || strings.TrimSpace(out) != `{"cniVersion":"1.0.0","ips":[{"address":"10.240.0.4/28"}]}` {
		t.Fatalf("%d %s", code, out)
	}
	if gotBody["podName"] != "web-0" || gotBody["podNamespace"] != "default" || gotBody["infraContainerID"] != "ctr-1" {
		t.Fatalf("request body %v", gotBody)
	}
}
