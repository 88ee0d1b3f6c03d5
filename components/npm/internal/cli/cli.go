// Package cli parses the azure-npm command line:
//
//	azure-npm -v | -version | --version | version
//	azure-npm start [-listen :10091] [-policy-dir DIR] [-kubeconfig PATH] [-interval 2s] [-v]
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Defaults for "start".
const (
	DefaultListen    = ":10091"
	DefaultPolicyDir = "/etc/azure-npm/policies"
	DefaultInterval  = 2 * time.Second
)

// Command is what the command line asks for.
type Command int

const (
	// Version prints the version line.
	Version Command = iota
	// Start runs the daemon.
	Start
	// Help printed usage on request (exit 0).
	Help
)

// StartOptions are the flags of "start".
type StartOptions struct {
	Listen     string
	PolicyDir  string
	Kubeconfig string // accepted for compatibility, ignored
	Interval   time.Duration
}

// Usage is the top-level usage text.
const Usage = `Usage:
  azure-npm start [-listen :10091] [-policy-dir /etc/azure-npm/policies] [-kubeconfig PATH] [-interval 2s]
  azure-npm version   (or -v, -version)
`

// ErrUsage marks command-line errors (exit code 2).
var ErrUsage = errors.New("usage error")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// Parse parses args (without the program name).
func Parse(args []string, stderr io.Writer) (Command, StartOptions, error) {
	opts := StartOptions{Listen: DefaultListen, PolicyDir: DefaultPolicyDir, Interval: DefaultInterval}
	if len(args) == 0 {
		return 0, opts, usageErr("no command given")
	}
	switch args[0] {
	case "-v", "--v", "-version", "--version", "version":
		if len(args) > 1 {
			return 0, opts, usageErr("%s takes no arguments", args[0])
		}
		return Version, opts, nil
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stderr, Usage)
		return Help, opts, nil
	case "start":
	default:
		return 0, opts, usageErr("unknown command %q", args[0])
	}
	fs := flag.NewFlagSet("azure-npm start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var showVersion bool
	fs.BoolVar(&showVersion, "v", false, "print the version and exit")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	fs.StringVar(&opts.Listen, "listen", opts.Listen, "address to serve /healthz and /metrics on")
	fs.StringVar(&opts.PolicyDir, "policy-dir", opts.PolicyDir, "directory of network-policy JSON files")
	fs.StringVar(&opts.Kubeconfig, "kubeconfig", "", "accepted for compatibility; ignored")
	fs.DurationVar(&opts.Interval, "interval", opts.Interval, "policy directory poll interval")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Help, opts, nil
		}
		return 0, opts, usageErr("%v", err)
	}
	if showVersion {
		return Version, opts, nil
	}
	if fs.NArg() > 0 {
		return 0, opts, usageErr("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if opts.Interval <= 0 {
		return 0, opts, usageErr("-interval must be positive, got %s", opts.Interval)
	}
	return Start, opts, nil
}
