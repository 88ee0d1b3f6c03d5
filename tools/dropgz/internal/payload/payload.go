// Package payload reads a dropgz payload from an fs.FS and deploys files
// from it.
//
// Layout (flat, at the root of the FS):
//
//	<name>.gz     each payload file, gzip-compressed
//	sum.txt.gz    gzip of a sha256sum-format list "<hex>  <name>" of the
//	              UNCOMPRESSED files
//
// Anything else (files without .gz, directories) is ignored.
package payload

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SumFile is the name of the compressed checksum list inside the payload.
const SumFile = "sum.txt.gz"

// Errors callers can test for with errors.Is.
var (
	ErrNoSums           = errors.New("payload has no sum.txt.gz")
	ErrNotInPayload     = errors.New("file is not in the payload")
	ErrNoChecksum       = errors.New("file has no checksum in sum.txt")
	ErrChecksumMismatch = errors.New("checksum mismatch")
	ErrCorrupt          = errors.New("corrupt gzip data")
)

// Payload is a payload rooted at an fs.FS.
type Payload struct {
	fsys fs.FS
}

// New returns the payload stored in fsys.
func New(fsys fs.FS) *Payload { return &Payload{fsys: fsys} }

// List returns the payload file names (without .gz), sorted.
func (p *Payload) List() ([]string, error) {
	entries, err := fs.ReadDir(p.fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == SumFile || !strings.HasSuffix(name, ".gz") || name == ".gz" {
			continue
		}
		names = append(names, strings.TrimSuffix(name, ".gz"))
	}
	sort.Strings(names)
	return names, nil
}

// Sums returns the checksums from sum.txt.gz, keyed by file name.
func (p *Payload) Sums() (map[string]string, error) {
	f, err := p.fsys.Open(SumFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoSums
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", SumFile, err)
	}
	defer f.Close()
	data, err := gunzipAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SumFile, err)
	}
	return ParseSums(data)
}

// ParseSums parses sha256sum output: "<64 hex>  <name>" or "<64 hex> *<name>"
// per line; blank lines are ignored and a leading "./" on names is dropped.
func ParseSums(data []byte) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		if ok && (strings.HasPrefix(name, " ") || strings.HasPrefix(name, "*")) {
			name = name[1:]
		} else {
			ok = false
		}
		name = strings.TrimPrefix(name, "./")
		if raw, err := hex.DecodeString(sum); !ok || err != nil || len(raw) != sha256.Size || name == "" {
			return nil, fmt.Errorf("sum.txt line %d is not \"<sha256 hex>  <name>\": %q", n, line)
		}
		sum = strings.ToLower(sum)
		if prev, dup := sums[name]; dup && prev != sum {
			return nil, fmt.Errorf("sum.txt lists %s twice with different checksums", name)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read sum.txt: %w", err)
	}
	return sums, nil
}

func gunzipAll(r io.Reader) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return data, nil
}

// Deployed describes one written file.
type Deployed struct {
	Name   string
	Path   string
	SHA256 string
	Size   int64
}

// validName accepts bare file names only.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && fs.ValidPath(name)
}

// Deploy decompresses the named files into dir (created if needed) with mode
// 0755. Every file is first written to a temporary file in dir and verified
// against sum.txt; only when all of them verify are they renamed into place,
// so a failure leaves dir untouched.
func (p *Payload) Deploy(names []string, dir string) ([]Deployed, error) {
	if len(names) == 0 {
		return nil, errors.New("no files to deploy")
	}
	if dir == "" {
		return nil, errors.New("no output directory")
	}
	available, err := p.List()
	if err != nil {
		return nil, err
	}
	inPayload := map[string]bool{}
	for _, n := range available {
		inPayload[n] = true
	}
	sums, err := p.Sums()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, name := range names {
		if !validName(name) || !inPayload[name] {
			return nil, fmt.Errorf("%q: %w (available: %s)", name, ErrNotInPayload, strings.Join(available, ", "))
		}
		if _, ok := sums[name]; !ok {
			return nil, fmt.Errorf("%s: %w", name, ErrNoChecksum)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s is named twice", name)
		}
		seen[name] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}

	var staged []string // temp paths, parallel to out
	cleanup := func() {
		for _, t := range staged {
			os.Remove(t)
		}
	}
	out := make([]Deployed, 0, len(names))
	for _, name := range names {
		tmp, d, err := p.stage(name, sums[name], dir)
		if err != nil {
			cleanup()
			return nil, err
		}
		staged = append(staged, tmp)
		out = append(out, d)
	}
	for i, d := range out {
		if err := os.Rename(staged[i], d.Path); err != nil {
			cleanup()
			return out[:i], fmt.Errorf("install %s: %w", d.Path, err)
		}
	}
	syncDir(dir)
	return out, nil
}

// stage decompresses name.gz into a temporary file in dir and verifies it.
func (p *Payload) stage(name, want, dir string) (tmpPath string, d Deployed, err error) {
	src, err := p.fsys.Open(name + ".gz")
	if err != nil {
		return "", d, fmt.Errorf("open %s.gz: %w", name, err)
	}
	defer src.Close()
	zr, err := gzip.NewReader(src)
	if err != nil {
		return "", d, fmt.Errorf("%s.gz: %w: %v", name, ErrCorrupt, err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".dropgz-*")
	if err != nil {
		return "", d, fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), zr)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return "", d, fmt.Errorf("write %s: %w", tmp.Name(), err)
		}
		return "", d, fmt.Errorf("%s.gz: %w: %v", name, ErrCorrupt, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != want {
		return "", d, fmt.Errorf("%s: %w: sum.txt says %s, payload decompresses to %s", name, ErrChecksumMismatch, want, got)
	}
	if err = tmp.Chmod(0o755); err != nil {
		return "", d, fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return "", d, fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return "", d, fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	return tmp.Name(), Deployed{Name: name, Path: filepath.Join(dir, name), SHA256: got, Size: n}, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
