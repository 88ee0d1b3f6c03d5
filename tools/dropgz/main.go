// Command dropgz installs the files embedded in its payload: each payload
// file is gzipped and verified against sum.txt (sha256) before it is
// atomically written to the target directory.
package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"

	"github.com/acn-monorepo/acn/tools/dropgz/internal/cli"
)

// version is set at link time with -X main.version=<version>.
var version = "unknown"

// The build system replaces payload/ with the real <name>.gz files and
// sum.txt.gz before compiling.
//
//go:embed payload
var embedded embed.FS

func main() {
	fsys, err := fs.Sub(embedded, "payload")
	if err != nil {
		fmt.Fprintf(os.Stderr, "dropgz: error: %v\n", err)
		os.Exit(cli.ExitError)
	}
	os.Exit(cli.Run(os.Args[1:], fsys, version, os.Stdout, os.Stderr))
}
