// Package cni holds the small subset of the CNI specification (1.0.0, with
// results convertible to 0.3.x/0.4.0) that azure-ipam and azure-vnet need: the environment,
// network configuration, result, version and error objects.
package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// SpecVersion is the CNI specification version this plugin implements.
const SpecVersion = "1.0.0"

// SupportedVersions lists the cniVersion values accepted in network configs.
var SupportedVersions = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0"}

// Well-known error codes from the CNI specification.
const (
	CodeIncompatibleVersion  = 1
	CodeUnsupportedField     = 2
	CodeUnknownContainer     = 3
	CodeInvalidEnv           = 4
	CodeIOFailure            = 5
	CodeDecodingFailure      = 6
	CodeInvalidNetworkConfig = 7
	CodeTryAgainLater        = 11
	CodeInternal             = 999
)

// Error is the CNI error object printed on stdout when a command fails.
type Error struct {
	CNIVersion string `json:"cniVersion"`
	Code       uint   `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
}

func (e *Error) Error() string {
	if e.Details == "" {
		return e.Msg
	}
	return e.Msg + ": " + e.Details
}

// NewError returns an Error stamped with SpecVersion (callers may restamp it).
func NewError(code uint, msg, details string) *Error {
	return &Error{CNIVersion: SpecVersion, Code: code, Msg: msg, Details: details}
}

// VersionInfo is the output of the VERSION command.
type VersionInfo struct {
	CNIVersion        string   `json:"cniVersion"`
	SupportedVersions []string `json:"supportedVersions"`
}

// PluginVersionInfo returns this plugin's VERSION output.
func PluginVersionInfo() VersionInfo {
	return VersionInfo{CNIVersion: SpecVersion, SupportedVersions: slices.Clone(SupportedVersions)}
}

// IsSupported reports whether v is an accepted cniVersion.
func IsSupported(v string) bool { return slices.Contains(SupportedVersions, v) }

// Interface is a result interface entry.
type Interface struct {
	Name    string `json:"name"`
	Mac     string `json:"mac,omitempty"`
	Sandbox string `json:"sandbox,omitempty"`
}

// IPConfig is a result ips entry. Version ("4"/"6") only exists before 1.0.0.
type IPConfig struct {
	Version   string `json:"version,omitempty"`
	Interface *int   `json:"interface,omitempty"`
	Address   string `json:"address"`
	Gateway   string `json:"gateway,omitempty"`
}

// Route is a result routes entry.
type Route struct {
	Dst string `json:"dst"`
	GW  string `json:"gw,omitempty"`
}

// DNS is the result dns object.
type DNS struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Domain      string   `json:"domain,omitempty"`
	Search      []string `json:"search,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// Result is the success output of ADD (and the prevResult of CHECK/DEL).
type Result struct {
	CNIVersion string      `json:"cniVersion"`
	Interfaces []Interface `json:"interfaces,omitempty"`
	IPs        []IPConfig  `json:"ips,omitempty"`
	Routes     []Route     `json:"routes,omitempty"`
	DNS        *DNS        `json:"dns,omitempty"`
}

// ConvertTo returns r expressed for cniVersion v: 1.0.0 drops the per-IP
// "version" field, 0.3.x/0.4.0 set it from the address family.
func (r Result) ConvertTo(v string) Result {
	out := r
	out.CNIVersion = v
	out.IPs = make([]IPConfig, len(r.IPs))
	for i, ip := range r.IPs {
		ip.Version = ""
		if v != "1.0.0" {
			ip.Version = "4"
			if p, err := netip.ParsePrefix(ip.Address); err == nil && p.Addr().Is6() {
				ip.Version = "6"
			}
		}
		out.IPs[i] = ip
	}
	return out
}

// IPAM is the "ipam" section of a network configuration.
type IPAM struct {
	Type   string `json:"type"`
	CNSURL string `json:"cnsUrl,omitempty"`
}

// NetConf is the part of the network configuration the plugins read.
type NetConf struct {
	CNIVersion string          `json:"cniVersion"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	CNSURL     string          `json:"cnsUrl,omitempty"`
	IPAM       IPAM            `json:"ipam"`
	PrevResult json.RawMessage `json:"prevResult,omitempty"`
}

// ParseNetConf decodes and validates a network configuration: a decoding
// failure is code 6, a missing cniVersion code 7, an unsupported one code 1.
func ParseNetConf(data []byte) (*NetConf, *Error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, NewError(CodeDecodingFailure, "failed to decode network configuration", "stdin is empty")
	}
	var c NetConf
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, NewError(CodeDecodingFailure, "failed to decode network configuration", err.Error())
	}
	if c.CNIVersion == "" {
		return nil, NewError(CodeInvalidNetworkConfig, "invalid network configuration", "cniVersion is required")
	}
	if !IsSupported(c.CNIVersion) {
		return nil, NewError(CodeIncompatibleVersion, "incompatible CNI version",
			fmt.Sprintf("cniVersion %q is not one of %s", c.CNIVersion, strings.Join(SupportedVersions, ", ")))
	}
	return &c, nil
}

// ParseResult decodes a result (e.g. prevResult) of any supported version.
func ParseResult(data []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Env is the CNI_* environment of one invocation.
type Env struct {
	Command     string
	ContainerID string
	Netns       string
	IfName      string
	Args        string
	Path        string
}

// EnvFrom reads the CNI_* variables through getenv (os.Getenv in production).
func EnvFrom(getenv func(string) string) Env {
	return Env{
		Command:     getenv("CNI_COMMAND"),
		ContainerID: getenv("CNI_CONTAINERID"),
		Netns:       getenv("CNI_NETNS"),
		IfName:      getenv("CNI_IFNAME"),
		Args:        getenv("CNI_ARGS"),
		Path:        getenv("CNI_PATH"),
	}
}

// ParseArgs parses CNI_ARGS ("K1=V1;K2=V2"). Empty items are ignored; an
// item without "=" is an error.
func ParseArgs(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range strings.Split(s, ";") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("CNI_ARGS item %q is not KEY=VALUE", item)
		}
		out[k] = v
	}
	return out, nil
}

// Respond writes a plugin invocation's outcome to stdout as the spec asks (the error object, or the result
// when there is one) and returns the process exit code.
func Respond(stdout io.Writer, out any, cerr *Error) int {
	if cerr != nil {
		writeJSON(stdout, cerr)
		return 1
	}
	if out != nil {
		writeJSON(stdout, out)
	}
	return 0
}

func writeJSON(w io.Writer, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(NewError(CodeInternal, "failed to encode output", err.Error()))
	}
	_, _ = w.Write(append(data, '\n'))
}

// Handle runs what every plugin invocation shares: VERSION is answered here; ADD, DEL and CHECK read and
// parse the network configuration from stdin and go to handle (with the raw bytes, for delegation). An
// error from handle carries the configuration's cniVersion.
func Handle(env Env, stdin io.Reader, handle func(conf *NetConf, raw []byte) (any, *Error)) (any, *Error) {
	switch env.Command {
	case "VERSION":
		return PluginVersionInfo(), nil
	case "ADD", "DEL", "CHECK":
	case "":
		return nil, NewError(CodeInvalidEnv, "invalid environment variables", "CNI_COMMAND is not set")
	default:
		return nil, NewError(CodeInvalidEnv, "invalid environment variables",
			fmt.Sprintf("unknown CNI_COMMAND %q (want ADD, DEL, CHECK or VERSION)", env.Command))
	}
	raw, err := io.ReadAll(stdin)
	if err != nil {
		return nil, NewError(CodeIOFailure, "failed to read network configuration from stdin", err.Error())
	}
	conf, cerr := ParseNetConf(raw)
	if cerr != nil {
		return nil, cerr
	}
	out, cerr := handle(conf, raw)
	if cerr != nil {
		cerr.CNIVersion = conf.CNIVersion
	}
	return out, cerr
}
