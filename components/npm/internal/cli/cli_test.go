package cli

import (
	"errors"
	"io"
	"testing"
	"time"
)

func TestVersionForms(t *testing.T) {
	for _, args := range [][]string{{"-v"}, {"-version"}, {"--version"}, {"version"}, {"start", "-v"}, {"start", "-listen", ":1", "-version"}} {
		cmd, _, err := Parse(args, io.Discard)
		if err != nil || cmd != Version {
			t.Errorf("%q: %v %v", args, cmd, err)
		}
	}
}

func TestStart(t *testing.T) {
	cmd, o, err := Parse([]string{"start"}, io.Discard)
	if err != nil || cmd != Start || o != (StartOptions{":10091", "/etc/azure-npm/policies", "", 2 * time.Second}) {
		t.Fatalf("%v %+v %v", cmd, o, err)
	}
	cmd, o, err = Parse([]string{"start", "-listen", "127.0.0.1:9", "-policy-dir", "/p", "-kubeconfig", "/k", "-interval", "250ms"}, io.Discard)
	if err != nil || cmd != Start || o != (StartOptions{"127.0.0.1:9", "/p", "/k", 250 * time.Millisecond}) {
		t.Fatalf("%v %+v %v", cmd, o, err)
	}
}

func TestErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"stop"}, {"start", "-bogus"}, {"start", "extra"}, {"start", "-interval", "0s"}, {"start", "-interval", "x"}, {"-v", "x"}} {
		if _, _, err := Parse(args, io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v", args, err)
		}
	}
	if cmd, _, err := Parse([]string{"start", "-h"}, io.Discard); err != nil || cmd != Help {
		t.Errorf("start -h: %v %v", cmd, err)
	}
}
