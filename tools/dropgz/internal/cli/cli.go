// Package cli implements the dropgz command line on top of package payload.
package cli

import (
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/acn-monorepo/acn/tools/dropgz/internal/payload"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed (bad payload, checksum mismatch, I/O)
	ExitUsage = 2 // the command line is wrong
)

const usage = `Usage:
  dropgz deploy <file>... -o <dir>   decompress, verify (sha256) and install payload files into <dir>
  dropgz list                        list the payload files
  dropgz version                     print the version
`

// Run executes dropgz with args (without the program name) against the
// payload in fsys and returns the exit code.
func Run(args []string, fsys fs.FS, version string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "dropgz: error: "+format+"\n", a...)
		return code
	}
	p := payload.New(fsys)
	switch args[0] {
	case "version", "-v", "--version", "-version":
		fmt.Fprintf(stdout, "dropgz %s\n", version)
		return ExitOK
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	case "list":
		if len(args) > 1 {
			return fail(ExitUsage, "list takes no arguments")
		}
		names, err := p.List()
		if err != nil {
			return fail(ExitError, "%v", err)
		}
		if len(names) == 0 {
			fmt.Fprintln(stderr, "dropgz: the payload is empty")
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
		return ExitOK
	case "deploy":
		files, dir, err := parseDeploy(args[1:])
		if err != nil {
			fmt.Fprintf(stderr, "dropgz: error: %v\n%s", err, usage)
			return ExitUsage
		}
		done, err := p.Deploy(files, dir)
		if err != nil && len(done) > 0 {
			return fail(ExitError, "deploy failed after installing %d of %d files: %v", len(done), len(files), err)
		}
		if err != nil {
			return fail(ExitError, "deploy failed, nothing installed: %v", err)
		}
		for _, d := range done {
			fmt.Fprintf(stdout, "deployed %s to %s (%d bytes, sha256 %s)\n", d.Name, d.Path, d.Size, d.SHA256)
		}
		return ExitOK
	default:
		fmt.Fprintf(stderr, "dropgz: error: unknown command %q\n%s", args[0], usage)
		return ExitUsage
	}
}

// parseDeploy accepts the output flag (-o, --output, -o=DIR, --output=DIR)
// anywhere among the file names; "--" ends flag parsing.
func parseDeploy(args []string) (files []string, dir string, err error) {
	flagsDone := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if flagsDone || !strings.HasPrefix(a, "-") || a == "-" {
			files = append(files, a)
			continue
		}
		if a == "--" {
			flagsDone = true
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "o" && name != "output" {
			return nil, "", fmt.Errorf("unknown flag %s", a)
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, "", fmt.Errorf("%s needs a directory", a)
			}
			i++
			value = args[i]
		}
		if dir != "" {
			return nil, "", fmt.Errorf("the output directory is given twice")
		}
		dir = value
	}
	if dir == "" {
		return nil, "", fmt.Errorf("deploy needs -o <dir>")
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("deploy needs at least one file (see dropgz list)")
	}
	return files, dir, nil
}
