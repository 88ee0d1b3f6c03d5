// Package config resolves azure-cns settings from defaults, an optional JSON
// config file and command-line flags (flags win over the file).
package config

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Defaults.
const (
	DefaultListen    = ":10090"
	DefaultStateFile = "/var/lib/azure-cns/state.json"
)

// Config is the resolved configuration. The JSON tags are the config-file keys.
type Config struct {
	Listen    string   `json:"listen"`
	IPPool    []string `json:"ipPool"`
	StateFile string   `json:"stateFile"`
}

// Options is the outcome of Parse.
type Options struct {
	Config
	ShowVersion bool
}

// LoadFile reads a JSON config file. Unknown keys are ignored.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// SplitPool splits a comma-separated CIDR list, dropping empty items.
func SplitPool(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Parse parses azure-cns command-line arguments (without the program name).
// Precedence: explicitly set flag > config file value > default.
func Parse(args []string, output io.Writer) (Options, error) {
	fs := flag.NewFlagSet("azure-cns", flag.ContinueOnError)
	fs.SetOutput(output)
	var o Options
	fs.BoolVar(&o.ShowVersion, "v", false, "print the version and exit")
	fs.BoolVar(&o.ShowVersion, "version", false, "print the version and exit")
	listen := fs.String("listen", DefaultListen, "address to serve the HTTP API on")
	configPath := fs.String("config", "", "path to a JSON config file {\"listen\",\"ipPool\",\"stateFile\"}")
	pool := fs.String("ip-pool", "", "comma-separated CIDRs to allocate pod addresses from")
	stateFile := fs.String("state-file", DefaultStateFile, "path of the persisted allocation state")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.ShowVersion {
		return o, nil
	}
	o.Listen, o.StateFile = DefaultListen, DefaultStateFile
	if *configPath != "" {
		c, err := LoadFile(*configPath)
		if err != nil {
			return o, err
		}
		if c.Listen != "" {
			o.Listen = c.Listen
		}
		if c.StateFile != "" {
			o.StateFile = c.StateFile
		}
		o.IPPool = c.IPPool
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			o.Listen = *listen
		case "state-file":
			o.StateFile = *stateFile
		case "ip-pool":
			o.IPPool = SplitPool(*pool)
		}
	})
	if o.StateFile == "" {
		return o, fmt.Errorf("the state file path must not be empty")
	}
	return o, nil
}
