// Package policy loads network-policy JSON files from a directory.
//
// A policy file holds one JSON object:
//
//	{"name": "allow-dns", "namespace": "kube-system",
//	 "podSelector": {...}, "ingress": [...], "egress": [...]}
//
// name and namespace are required non-empty strings; podSelector, when
// present, must be an object and ingress/egress must be arrays. Unknown keys
// are ignored.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MaxFileSize bounds one policy file.
const MaxFileSize = 1 << 20

// Policy is one parsed network policy. The rule bodies are kept verbatim.
type Policy struct {
	Name        string          `json:"name"`
	Namespace   string          `json:"namespace"`
	PodSelector json.RawMessage `json:"podSelector,omitempty"`
	Ingress     json.RawMessage `json:"ingress,omitempty"`
	Egress      json.RawMessage `json:"egress,omitempty"`

	File string `json:"-"` // the file it was loaded from
}

// Key is "<namespace>/<name>".
func (p Policy) Key() string { return p.Namespace + "/" + p.Name }

// Parse decodes and validates one policy document.
func Parse(data []byte) (Policy, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Policy{}, fmt.Errorf("not a JSON object: %v", err)
	}
	if raw == nil {
		return Policy{}, errors.New("not a JSON object: null")
	}
	var p Policy
	var problems []string
	str := func(key string, dst *string) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			problems = append(problems, key+" is required")
			return
		}
		if err := json.Unmarshal(v, dst); err != nil {
			problems = append(problems, key+" must be a string")
			return
		}
		if strings.TrimSpace(*dst) == "" {
			problems = append(problems, key+" must not be empty")
		}
	}
	str("name", &p.Name)
	str("namespace", &p.Namespace)
	kind := func(key string, open byte, what string, dst *json.RawMessage) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return
		}
		if t := bytes.TrimSpace(v); len(t) == 0 || t[0] != open {
			problems = append(problems, key+" must be "+what)
			return
		}
		*dst = v
	}
	kind("podSelector", '{', "an object", &p.PodSelector)
	kind("ingress", '[', "an array", &p.Ingress)
	kind("egress", '[', "an array", &p.Egress)
	if len(problems) > 0 {
		return Policy{}, errors.New(strings.Join(problems, "; "))
	}
	return p, nil
}

// InvalidFile is a policy file that was skipped.
type InvalidFile struct {
	Path string
	Err  error
}

// Snapshot is the result of one directory scan.
type Snapshot struct {
	Policies []Policy      // valid policies, sorted by namespace then name
	Invalid  []InvalidFile // skipped files, sorted by path
}

// PerNamespace counts valid policies by namespace.
func (s Snapshot) PerNamespace() map[string]int {
	out := map[string]int{}
	for _, p := range s.Policies {
		out[p.Namespace]++
	}
	return out
}

// IsPolicyFile reports whether a directory entry name is scanned: "*.json"
// (any case), not hidden.
func IsPolicyFile(name string) bool {
	return !strings.HasPrefix(name, ".") && strings.EqualFold(filepath.Ext(name), ".json")
}

// LoadDir scans dir (not recursively). Invalid files are reported in the
// snapshot, never as an error; the error is only for an unreadable directory.
// A policy whose namespace/name was already loaded from an earlier file (in
// file-name order) is reported as invalid.
func LoadDir(dir string) (Snapshot, error) {
	var snap Snapshot
	entries, err := os.ReadDir(dir)
	if err != nil {
		return snap, err
	}
	seen := map[string]string{}
	for _, e := range entries { // os.ReadDir sorts by name
		if !IsPolicyFile(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		p, err := loadFile(path)
		if err == nil {
			if first, dup := seen[p.Key()]; dup {
				err = fmt.Errorf("duplicate policy %s (already loaded from %s)", p.Key(), filepath.Base(first))
			}
		}
		if err != nil {
			snap.Invalid = append(snap.Invalid, InvalidFile{Path: path, Err: err})
			continue
		}
		seen[p.Key()] = path
		snap.Policies = append(snap.Policies, p)
	}
	sort.Slice(snap.Policies, func(i, j int) bool {
		a, b := snap.Policies[i], snap.Policies[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return snap, nil
}

func loadFile(path string) (Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return Policy{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Policy{}, err
	}
	if !info.Mode().IsRegular() {
		return Policy{}, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return Policy{}, err
	}
	if len(data) > MaxFileSize {
		return Policy{}, fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	p, err := Parse(data)
	if err != nil {
		return Policy{}, err
	}
	p.File = path
	return p, nil
}
