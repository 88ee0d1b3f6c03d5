// Package invoke runs delegated CNI plugins (the IPAM plugin named in
// ipam.type) following the CNI delegation convention: the executable is
// looked up in CNI_PATH and run with the caller's environment and the same
// network configuration on stdin.
package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/acn-monorepo/acn/components/internal/cni"
)

// ErrNotFound is returned by FindInPath when no directory holds the plugin.
var ErrNotFound = errors.New("plugin not found")

// SplitPath splits CNI_PATH (colon-separated; semicolons on Windows) and drops empty entries.
func SplitPath(cniPath string) []string {
	var out []string
	for _, dir := range filepath.SplitList(cniPath) {
		if dir = strings.TrimSpace(dir); dir != "" {
			out = append(out, dir)
		}
	}
	return out
}

// ValidName reports whether plugin is a bare executable name (no path).
func ValidName(plugin string) bool {
	return plugin != "" && plugin != "." && plugin != ".." && !strings.ContainsAny(plugin, `/\`)
}

// FindInPath returns the first executable named plugin (plugin.exe on
// Windows) in dirs.
func FindInPath(plugin string, dirs []string) (string, error) {
	if !ValidName(plugin) {
		return "", fmt.Errorf("invalid plugin name %q", plugin)
	}
	names := []string{plugin}
	if runtime.GOOS == "windows" && !strings.HasSuffix(strings.ToLower(plugin), ".exe") {
		names = []string{plugin + ".exe", plugin}
	}
	for _, dir := range dirs {
		for _, name := range names {
			candidate := filepath.Join(dir, name)
			info, err := os.Stat(candidate)
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			if runtime.GOOS != "windows" && info.Mode().Perm()&0o111 == 0 {
				continue
			}
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%w: no executable %q in CNI_PATH %v", ErrNotFound, plugin, dirs)
}

// WithCommand returns environ with CNI_COMMAND replaced by command.
func WithCommand(environ []string, command string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "CNI_COMMAND=") {
			out = append(out, kv)
		}
	}
	return append(out, "CNI_COMMAND="+command)
}

// Exec runs the plugin at path with environ and stdin and returns its stdout.
// If the plugin exits non-zero and printed a CNI error object, that object is
// returned as a *cni.Error; other failures are plain errors.
func Exec(ctx context.Context, path string, environ []string, stdin []byte) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = environ
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return nil, fmt.Errorf("run %s: %v", path, err)
	}
	var cerr cni.Error
	if json.Unmarshal(stdout.Bytes(), &cerr) == nil && cerr.Code != 0 && cerr.Msg != "" {
		return nil, &cerr
	}
	detail := strings.TrimSpace(stderr.String())
	if detail == "" {
		detail = strings.TrimSpace(stdout.String())
	}
	return nil, fmt.Errorf("%s failed (%v): %s", filepath.Base(path), err, detail)
}
