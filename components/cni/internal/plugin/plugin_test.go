package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acn-monorepo/acn/components/cni/internal/store"
	"github.com/acn-monorepo/acn/components/internal/cni"
)

type call struct {
	path, command string
	stdin         string
}

type fakeIPAM struct {
	calls  []call
	result string
	err    map[string]error
}

func (f *fakeIPAM) exec(_ context.Context, path string, environ []string, stdin []byte) ([]byte, error) {
	cmd := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "CNI_COMMAND="); ok {
			cmd = v
		}
	}
	f.calls = append(f.calls, call{path, cmd, string(stdin)})
	if err := f.err[cmd]; err != nil {
		return nil, err
	}
	if cmd == "ADD" {
		return []byte(f.result), nil
	}
	return nil, nil
}

type fixture struct {
	ipam      *fakeIPAM
	opts      Options
	pluginDir string
	env       cni.Env
}

const conf = `{"cniVersion":"1.0.0","name":"azure","type":"azure-vnet","ipam":{"type":"azure-ipam","cnsUrl":"http://cns:10090"}}`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "azure-ipam"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "azure-ipam.exe"), []byte("MZ"), 0o755)
	f := &fakeIPAM{result: `{"cniVersion":"1.0.0","ips":[{"address":"10.240.0.1/28","gateway":"10.240.0.14"}]}`, err: map[string]error{}}
	return &fixture{
		ipam:      f,
		pluginDir: dir,
		opts: Options{
			Environ:   []string{"CNI_COMMAND=ADD", "PATH=/usr/bin"},
			StatePath: filepath.Join(t.TempDir(), "run", "azure-vnet.json"),
			Exec:      f.exec,
			Now:       func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) },
		},
		env: cni.Env{ContainerID: "ctr-1", IfName: "eth0", Netns: "/var/run/netns/x", Path: "/nonexistent:" + dir,
			Args: "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"},
	}
}

func (fx *fixture) run(t *testing.T, command, stdin string) (int, string) {
	t.Helper()
	env := fx.env
	env.Command = command
	var out bytes.Buffer
	code := Run(context.Background(), env, strings.NewReader(stdin), &out, fx.opts)
	return code, out.String()
}

func (fx *fixture) state(t *testing.T) *store.State {
	t.Helper()
	st, err := store.Store{Path: fx.opts.StatePath}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func wantError(t *testing.T, code int, out string, cniCode uint) cni.Error {
	t.Helper()
	var e cni.Error
	if err := json.Unmarshal([]byte(out), &e); err != nil || code == 0 || e.Code != cniCode {
		t.Fatalf("exit %d, output %q: want CNI error code %d", code, out, cniCode)
	}
	return e
}

func TestVersion(t *testing.T) {
	fx := newFixture(t)
	code, out := fx.run(t, "VERSION", "")
	if code != 0 || strings.TrimSpace(out) != `{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}` {
		t.Fatalf("%d %s", code, out)
	}
}

func TestAddCheckDel(t *testing.T) {
	fx := newFixture(t)
	code, out := fx.run(t, "ADD", conf)
	if code != 0 || strings.TrimSpace(out) != `{"cniVersion":"1.0.0","ips":[{"address":"10.240.0.1/28","gateway":"10.240.0.14"}]}` {
		t.Fatalf("ADD: %d %s", code, out)
	}
	c := fx.ipam.calls[0]
	if c.command != "ADD" || c.stdin != conf || filepath.Dir(c.path) != fx.pluginDir {
		t.Fatalf("delegation: %+v", c)
	}
	att, ok := fx.state(t).Attachments["ctr-1/eth0"]
	if !ok || att.Network != "azure" || att.PodName != "web-0" || att.PodNamespace != "default" ||
		att.IPAMType != "azure-ipam" || att.Netns != "/var/run/netns/x" || att.Result.IPs[0].Address != "10.240.0.1/28" ||
		!att.CreatedAt.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("attachment: %+v", att)
	}

	if code, out := fx.run(t, "CHECK", conf); code != 0 || out != "" {
		t.Fatalf("CHECK: %d %s", code, out)
	}
	if fx.ipam.calls[1].command != "CHECK" {
		t.Fatalf("CHECK not delegated: %+v", fx.ipam.calls)
	}

	if code, out := fx.run(t, "DEL", conf); code != 0 || out != "" {
		t.Fatalf("DEL: %d %s", code, out)
	}
	if fx.ipam.calls[2].command != "DEL" || len(fx.state(t).Attachments) != 0 {
		t.Fatalf("DEL: calls %+v state %+v", fx.ipam.calls, fx.state(t))
	}
	// DEL again: still delegated, still succeeds.
	if code, _ := fx.run(t, "DEL", conf); code != 0 || len(fx.ipam.calls) != 4 {
		t.Fatalf("second DEL: %d", code)
	}
	wantError(t, 1, mustFail(fx.run(t, "CHECK", conf)), cni.CodeInternal)
}

func mustFail(code int, out string) string {
	if code == 0 {
		return "exit 0: " + out
	}
	return out
}

func TestAddOldVersionConvertsResult(t *testing.T) {
	fx := newFixture(t)
	c := strings.Replace(conf, "1.0.0", "0.3.1", 1)
	code, out := fx.run(t, "ADD", c)
	if code != 0 || strings.TrimSpace(out) != `{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.240.0.1/28","gateway":"10.240.0.14"}]}` {
		t.Fatalf("%d %s", code, out)
	}
	e := wantError(t, 1, mustFail(fx.run(t, "CHECK", c)), cni.CodeIncompatibleVersion)
	if e.CNIVersion != "0.3.1" {
		t.Fatalf("%+v", e)
	}
}

func TestIPAMErrorPassesThrough(t *testing.T) {
	fx := newFixture(t)
	fx.ipam.err["ADD"] = &cni.Error{CNIVersion: "1.0.0", Code: 11, Msg: "cns unreachable", Details: "dial tcp: refused"}
	e := wantError(t, 1, mustFail(fx.run(t, "ADD", conf)), 11)
	if e.Msg != "cns unreachable" || e.Details != "dial tcp: refused" {
		t.Fatalf("%+v", e)
	}
	if len(fx.state(t).Attachments) != 0 {
		t.Fatal("attachment recorded after IPAM failure")
	}
	fx.ipam.err["DEL"] = errors.New("exec format error")
	wantError(t, 1, mustFail(fx.run(t, "DEL", conf)), cni.CodeInternal)
}

func TestBadIPAMResultRollsBack(t *testing.T) {
	fx := newFixture(t)
	fx.ipam.result = `{"cniVersion":"1.0.0","ips":[]}`
	wantError(t, 1, mustFail(fx.run(t, "ADD", conf)), cni.CodeInternal)
	if len(fx.ipam.calls) != 2 || fx.ipam.calls[1].command != "DEL" {
		t.Fatalf("no rollback DEL: %+v", fx.ipam.calls)
	}
}

func TestStateFailureRollsBack(t *testing.T) {
	fx := newFixture(t)
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	fx.opts.StatePath = filepath.Join(blocker, "state.json")
	wantError(t, 1, mustFail(fx.run(t, "ADD", conf)), cni.CodeInternal)
	if len(fx.ipam.calls) != 2 || fx.ipam.calls[1].command != "DEL" {
		t.Fatalf("no rollback DEL: %+v", fx.ipam.calls)
	}
}

func TestInvalidInput(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*fixture)
		cmd    string
		stdin  string
		code   uint
	}{
		"no command":     {nil, "", conf, cni.CodeInvalidEnv},
		"bad command":    {nil, "STATUS", conf, cni.CodeInvalidEnv},
		"bad json":       {nil, "ADD", "{", cni.CodeDecodingFailure},
		"no cniVersion":  {nil, "ADD", `{"name":"x","ipam":{"type":"azure-ipam"}}`, cni.CodeInvalidNetworkConfig},
		"bad cniVersion": {nil, "ADD", `{"cniVersion":"0.2.0"}`, cni.CodeIncompatibleVersion},
		"no ipam type":   {nil, "ADD", `{"cniVersion":"1.0.0","name":"x"}`, cni.CodeInvalidNetworkConfig},
		"ipam type path": {nil, "ADD", `{"cniVersion":"1.0.0","ipam":{"type":"../bin/sh"}}`, cni.CodeInvalidNetworkConfig},
		"no container":   {func(f *fixture) { f.env.ContainerID = "" }, "ADD", conf, cni.CodeInvalidEnv},
		"no ifname":      {func(f *fixture) { f.env.IfName = "" }, "DEL", conf, cni.CodeInvalidEnv},
		"no cni path":    {func(f *fixture) { f.env.Path = "" }, "ADD", conf, cni.CodeInvalidEnv},
		"bad args":       {func(f *fixture) { f.env.Args = "junk" }, "ADD", conf, cni.CodeInvalidEnv},
		"plugin missing": {nil, "ADD", `{"cniVersion":"1.0.0","ipam":{"type":"no-such-ipam"}}`, cni.CodeInternal},
	} {
		t.Run(name, func(t *testing.T) {
			fx := newFixture(t)
			if tc.mutate != nil {
				tc.mutate(fx)
			}
			wantError(t, 1, mustFail(fx.run(t, tc.cmd, tc.stdin)), tc.code)
			if len(fx.ipam.calls) != 0 {
				t.Fatalf("IPAM invoked: %+v", fx.ipam.calls)
			}
		})
	}
}

func TestStatePath(t *testing.T) {
	if got := StatePath(func(string) string { return "" }); got != "/var/run/azure-vnet.json" {
		t.Fatal(got)
	}
	if got := StatePath(func(k string) string { return map[string]string{StateFileEnv: "/tmp/x.json"}[k] }); got != "/tmp/x.json" {
		t.Fatal(got)
	}
}
