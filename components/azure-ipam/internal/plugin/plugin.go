// Package plugin implements the azure-ipam CNI commands (ADD, DEL, CHECK,
// VERSION) on top of the cns API.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/acn-monorepo/acn/components/azure-ipam/internal/cnsclient"
	"github.com/acn-monorepo/acn/components/internal/cni"
)

// CNS is the part of the cns API the plugin uses.
type CNS interface {
	RequestIPConfig(context.Context, cnsclient.PodRequest) (cnsclient.Allocation, error)
	ReleaseIPConfig(context.Context, cnsclient.PodRequest) error
	ListIPAddresses(context.Context) ([]cnsclient.Allocation, error)
}

// Factory returns a CNS client for a validated base URL.
type Factory func(baseURL string) (CNS, error)

// DefaultFactory builds real HTTP clients.
func DefaultFactory(baseURL string) (CNS, error) {
	return cnsclient.New(baseURL, cnsclient.DefaultTimeout)
}

// CNI_ARGS keys carrying the pod identity.
const (
	ArgPodName      = "K8S_POD_NAME"
	ArgPodNamespace = "K8S_POD_NAMESPACE"
)

// Run executes one plugin invocation and returns the process exit code. The
// result (ADD), version info (VERSION) or CNI error object is written to stdout.
func Run(ctx context.Context, env cni.Env, stdin io.Reader, stdout io.Writer, factory Factory) int {
	out, cerr := run(ctx, env, stdin, factory)
	return cni.Respond(stdout, out, cerr)
}

// CNSURL picks the cns endpoint: ipam.cnsUrl, then the top-level cnsUrl, then the default.
func CNSURL(c *cni.NetConf) string {
	if u := strings.TrimSpace(c.IPAM.CNSURL); u != "" {
		return u
	}
	if u := strings.TrimSpace(c.CNSURL); u != "" {
		return u
	}
	return cnsclient.DefaultURL
}

func run(ctx context.Context, env cni.Env, stdin io.Reader, factory Factory) (any, *cni.Error) {
	return cni.Handle(env, stdin, func(conf *cni.NetConf, _ []byte) (any, *cni.Error) {
		return dispatch(ctx, env, conf, factory)
	})
}

func dispatch(ctx context.Context, env cni.Env, conf *cni.NetConf, factory Factory) (any, *cni.Error) {
	pod, cerr := podRequest(env)
	if cerr != nil {
		return nil, cerr
	}
	baseURL := CNSURL(conf)
	if _, err := cnsclient.ValidateURL(baseURL); err != nil {
		return nil, cni.NewError(cni.CodeInvalidNetworkConfig, "invalid network configuration", err.Error())
	}
	client, err := factory(baseURL)
	if err != nil {
		return nil, cni.NewError(cni.CodeInvalidNetworkConfig, "invalid network configuration", err.Error())
	}
	switch env.Command {
	case "ADD":
		return add(ctx, client, conf, pod, baseURL)
	case "DEL":
		if err := client.ReleaseIPConfig(ctx, pod); err != nil {
			return nil, cnsError("release", baseURL, err)
		}
		return nil, nil
	default:
		return nil, check(ctx, client, conf, pod, baseURL)
	}
}

func podRequest(env cni.Env) (cnsclient.PodRequest, *cni.Error) {
	invalid := func(detail string) *cni.Error {
		return cni.NewError(cni.CodeInvalidEnv, "invalid environment variables", detail)
	}
	if strings.TrimSpace(env.ContainerID) == "" {
		return cnsclient.PodRequest{}, invalid("CNI_CONTAINERID is not set")
	}
	args, err := cni.ParseArgs(env.Args)
	if err != nil {
		return cnsclient.PodRequest{}, invalid(err.Error())
	}
	var missing []string
	for _, k := range []string{ArgPodName, ArgPodNamespace} {
		if strings.TrimSpace(args[k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return cnsclient.PodRequest{}, invalid("CNI_ARGS is missing " + strings.Join(missing, " and "))
	}
	return cnsclient.PodRequest{
		PodName:          strings.TrimSpace(args[ArgPodName]),
		PodNamespace:     strings.TrimSpace(args[ArgPodNamespace]),
		InfraContainerID: env.ContainerID,
	}, nil
}

// cnsError maps a cns client failure to a CNI error: unreachable or 503 is
// code 11 (try again later), everything else 999.
func cnsError(op, baseURL string, err error) *cni.Error {
	var apiErr *cnsclient.APIError
	switch {
	case errors.Is(err, cnsclient.ErrUnreachable):
		return cni.NewError(cni.CodeTryAgainLater, "cns at "+baseURL+" is unreachable, try again later", err.Error())
	case errors.As(err, &apiErr) && apiErr.Status == 503:
		return cni.NewError(cni.CodeTryAgainLater, "cns at "+baseURL+" is unavailable, try again later", err.Error())
	case errors.As(err, &apiErr) && apiErr.Code == "PoolExhausted":
		return cni.NewError(cni.CodeInternal, "cns ip pool exhausted", err.Error())
	default:
		return cni.NewError(cni.CodeInternal, "cns "+op+" failed", err.Error())
	}
}

func toIPConfig(a cnsclient.Allocation) (cni.IPConfig, error) {
	addr, err := netip.ParseAddr(a.IPAddress)
	if err != nil {
		return cni.IPConfig{}, fmt.Errorf("cns returned invalid ipAddress %q", a.IPAddress)
	}
	if a.PrefixLength < 0 || a.PrefixLength > addr.BitLen() {
		return cni.IPConfig{}, fmt.Errorf("cns returned invalid prefixLength %d for %s", a.PrefixLength, addr)
	}
	ip := cni.IPConfig{Address: netip.PrefixFrom(addr, a.PrefixLength).String()}
	if a.Gateway != "" {
		gw, err := netip.ParseAddr(a.Gateway)
		if err != nil {
			return cni.IPConfig{}, fmt.Errorf("cns returned invalid gateway %q", a.Gateway)
		}
		ip.Gateway = gw.String()
	}
	return ip, nil
}

func add(ctx context.Context, client CNS, conf *cni.NetConf, pod cnsclient.PodRequest, baseURL string) (any, *cni.Error) {
	alloc, err := client.RequestIPConfig(ctx, pod)
	if err != nil {
		return nil, cnsError("request", baseURL, err)
	}
	ip, err := toIPConfig(alloc)
	if err != nil {
		return nil, cni.NewError(cni.CodeInternal, "invalid cns response", err.Error())
	}
	return cni.Result{IPs: []cni.IPConfig{ip}}.ConvertTo(conf.CNIVersion), nil
}

func check(ctx context.Context, client CNS, conf *cni.NetConf, pod cnsclient.PodRequest, baseURL string) *cni.Error {
	if conf.CNIVersion == "0.3.0" || conf.CNIVersion == "0.3.1" {
		return cni.NewError(cni.CodeIncompatibleVersion, "incompatible CNI version",
			"CHECK requires cniVersion 0.4.0 or later, config has "+conf.CNIVersion)
	}
	list, err := client.ListIPAddresses(ctx)
	if err != nil {
		return cnsError("list", baseURL, err)
	}
	key := pod.PodNamespace + "/" + pod.PodName
	var found *cnsclient.Allocation
	for i := range list {
		if list[i].PodNamespace == pod.PodNamespace && list[i].PodName == pod.PodName {
			found = &list[i]
			break
		}
	}
	if found == nil {
		return cni.NewError(cni.CodeInternal, "cns holds no address for pod "+key, "")
	}
	if found.InfraContainerID != pod.InfraContainerID {
		return cni.NewError(cni.CodeInternal, "cns address of pod "+key+" belongs to another container",
			fmt.Sprintf("cns records container %q, CNI_CONTAINERID is %q", found.InfraContainerID, pod.InfraContainerID))
	}
	if len(conf.PrevResult) == 0 || string(conf.PrevResult) == "null" {
		return nil
	}
	prev, err := cni.ParseResult(conf.PrevResult)
	if err != nil {
		return cni.NewError(cni.CodeDecodingFailure, "failed to decode prevResult", err.Error())
	}
	want, err := toIPConfig(*found)
	if err != nil {
		return cni.NewError(cni.CodeInternal, "invalid cns response", err.Error())
	}
	for _, ip := range prev.IPs {
		if p, err := netip.ParsePrefix(ip.Address); err == nil && p.String() == want.Address {
			return nil
		}
	}
	return cni.NewError(cni.CodeInternal, "prevResult does not match cns",
		fmt.Sprintf("cns holds %s for pod %s, prevResult has %v", want.Address, key, prevAddresses(prev)))
}

func prevAddresses(r *cni.Result) []string {
	out := make([]string, 0, len(r.IPs))
	for _, ip := range r.IPs {
		out = append(out, ip.Address)
	}
	return out
}
