// Package plugin implements the azure-vnet CNI commands. IPAM is delegated
// to the plugin named in ipam.type; attachments are recorded in a state file.
// No network namespace plumbing is done.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/acn-monorepo/acn/components/cni/internal/invoke"
	"github.com/acn-monorepo/acn/components/cni/internal/store"
	"github.com/acn-monorepo/acn/components/internal/cni"
)

// StateFileEnv names the environment variable overriding the state file path.
const StateFileEnv = "AZURE_VNET_STATE_FILE"

// DelegateTimeout bounds one IPAM plugin invocation.
const DelegateTimeout = 2 * time.Minute

// ExecFunc runs a delegated plugin (invoke.Exec in production).
type ExecFunc func(ctx context.Context, path string, environ []string, stdin []byte) ([]byte, error)

// Options are the process-level inputs of Run.
type Options struct {
	Environ   []string // environment handed to the IPAM plugin (os.Environ())
	StatePath string   // attachment state file
	Exec      ExecFunc
	Now       func() time.Time
}

// StatePath returns $AZURE_VNET_STATE_FILE or the default path.
func StatePath(getenv func(string) string) string {
	if p := strings.TrimSpace(getenv(StateFileEnv)); p != "" {
		return p
	}
	return store.DefaultPath
}

// Run executes one invocation and returns the exit code; the result, version
// info or CNI error object is written to stdout.
func Run(ctx context.Context, env cni.Env, stdin io.Reader, stdout io.Writer, opts Options) int {
	if opts.Exec == nil {
		opts.Exec = invoke.Exec
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	out, cerr := run(ctx, env, stdin, opts)
	return cni.Respond(stdout, out, cerr)
}

func invalidEnv(detail string) *cni.Error {
	return cni.NewError(cni.CodeInvalidEnv, "invalid environment variables", detail)
}

func run(ctx context.Context, env cni.Env, stdin io.Reader, opts Options) (any, *cni.Error) {
	return cni.Handle(env, stdin, func(conf *cni.NetConf, raw []byte) (any, *cni.Error) {
		inv := &invocation{env: env, conf: conf, raw: raw, opts: opts}
		return inv.dispatch(ctx)
	})
}

type invocation struct {
	env      cni.Env
	conf     *cni.NetConf
	raw      []byte
	opts     Options
	args     map[string]string
	ipamPath string
}

func (inv *invocation) dispatch(ctx context.Context) (any, *cni.Error) {
	if inv.conf.IPAM.Type == "" {
		return nil, cni.NewError(cni.CodeInvalidNetworkConfig, "invalid network configuration", "ipam.type is required")
	}
	if !invoke.ValidName(inv.conf.IPAM.Type) {
		return nil, cni.NewError(cni.CodeInvalidNetworkConfig, "invalid network configuration",
			fmt.Sprintf("ipam.type %q must be a plugin name, not a path", inv.conf.IPAM.Type))
	}
	if strings.TrimSpace(inv.env.ContainerID) == "" {
		return nil, invalidEnv("CNI_CONTAINERID is not set")
	}
	if strings.TrimSpace(inv.env.IfName) == "" {
		return nil, invalidEnv("CNI_IFNAME is not set")
	}
	args, err := cni.ParseArgs(inv.env.Args)
	if err != nil {
		return nil, invalidEnv(err.Error())
	}
	inv.args = args
	dirs := invoke.SplitPath(inv.env.Path)
	if len(dirs) == 0 {
		return nil, invalidEnv("CNI_PATH is not set")
	}
	inv.ipamPath, err = invoke.FindInPath(inv.conf.IPAM.Type, dirs)
	if err != nil {
		return nil, cni.NewError(cni.CodeInternal, "failed to find IPAM plugin "+inv.conf.IPAM.Type, err.Error())
	}
	switch inv.env.Command {
	case "ADD":
		return inv.add(ctx)
	case "DEL":
		return nil, inv.del(ctx)
	default:
		return nil, inv.check(ctx)
	}
}

// delegate runs the IPAM plugin with command; IPAM errors pass through.
func (inv *invocation) delegate(ctx context.Context, command string) ([]byte, *cni.Error) {
	ctx, cancel := context.WithTimeout(ctx, DelegateTimeout)
	defer cancel()
	out, err := inv.opts.Exec(ctx, inv.ipamPath, invoke.WithCommand(inv.opts.Environ, command), inv.raw)
	if err == nil {
		return out, nil
	}
	var cerr *cni.Error
	if errors.As(err, &cerr) {
		return nil, cerr
	}
	return nil, cni.NewError(cni.CodeInternal, "IPAM plugin "+inv.conf.IPAM.Type+" "+command+" failed", err.Error())
}

func (inv *invocation) key() string { return store.Key(inv.env.ContainerID, inv.env.IfName) }

func (inv *invocation) add(ctx context.Context) (any, *cni.Error) {
	out, cerr := inv.delegate(ctx, "ADD")
	if cerr != nil {
		return nil, cerr
	}
	res, err := cni.ParseResult(out)
	if err == nil && len(res.IPs) == 0 {
		err = errors.New("the result has no ips")
	}
	if err != nil {
		inv.rollback(ctx)
		return nil, cni.NewError(cni.CodeInternal, "invalid result from IPAM plugin "+inv.conf.IPAM.Type,
			fmt.Sprintf("%v; output: %s", err, strings.TrimSpace(string(out))))
	}
	result := res.ConvertTo(inv.conf.CNIVersion)
	att := store.Attachment{
		ContainerID:  inv.env.ContainerID,
		IfName:       inv.env.IfName,
		Netns:        inv.env.Netns,
		Network:      inv.conf.Name,
		PodName:      inv.args["K8S_POD_NAME"],
		PodNamespace: inv.args["K8S_POD_NAMESPACE"],
		IPAMType:     inv.conf.IPAM.Type,
		Result:       result,
		CreatedAt:    inv.opts.Now().UTC().Truncate(time.Second),
	}
	err = store.Store{Path: inv.opts.StatePath}.Update(func(st *store.State) error {
		st.Attachments[inv.key()] = att
		return nil
	})
	if err != nil {
		inv.rollback(ctx)
		return nil, cni.NewError(cni.CodeInternal, "failed to record the attachment", err.Error())
	}
	return result, nil
}

// rollback releases the IPAM allocation of a failed ADD (best effort).
func (inv *invocation) rollback(ctx context.Context) {
	_, _ = inv.delegate(ctx, "DEL")
}

func (inv *invocation) del(ctx context.Context) *cni.Error {
	if _, cerr := inv.delegate(ctx, "DEL"); cerr != nil {
		return cerr
	}
	err := store.Store{Path: inv.opts.StatePath}.Update(func(st *store.State) error {
		delete(st.Attachments, inv.key())
		return nil
	})
	if err != nil {
		return cni.NewError(cni.CodeInternal, "failed to remove the attachment record", err.Error())
	}
	return nil
}

func (inv *invocation) check(ctx context.Context) *cni.Error {
	if inv.conf.CNIVersion == "0.3.0" || inv.conf.CNIVersion == "0.3.1" {
		return cni.NewError(cni.CodeIncompatibleVersion, "incompatible CNI version",
			"CHECK requires cniVersion 0.4.0 or later, config has "+inv.conf.CNIVersion)
	}
	st, err := store.Store{Path: inv.opts.StatePath}.Load()
	if err != nil {
		return cni.NewError(cni.CodeInternal, "failed to read the attachment state", err.Error())
	}
	if _, ok := st.Attachments[inv.key()]; !ok {
		return cni.NewError(cni.CodeInternal, "no attachment recorded for "+inv.key(), "state file "+inv.opts.StatePath)
	}
	_, cerr := inv.delegate(ctx, "CHECK")
	return cerr
}
