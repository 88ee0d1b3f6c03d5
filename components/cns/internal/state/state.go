// Package state persists azure-cns allocations to a JSON file.
//
// Every Save writes a temporary file in the target directory, fsyncs it,
// renames it over the state file and fsyncs the directory, so a crash leaves
// either the old or the new state, never a torn file.
package state

import (
	"encoding/json"
	"fmt"
	"github.com/acn-monorepo/acn/components/internal/atomicfile"

	"github.com/acn-monorepo/acn/components/cns/internal/ipam"
)

// FormatVersion is the version of the state file layout.
const FormatVersion = 1

// File is the on-disk layout:
//
//	{"version": 1, "allocations": [{"ipAddress": ..., "podName": ..., ...}]}
type File struct {
	Version     int               `json:"version"`
	Allocations []ipam.Allocation `json:"allocations"`
}

// Store reads and writes one state file.
type Store struct {
	Path string
}

// Load returns the persisted allocations. A missing or empty file is an empty
// state; an unreadable or corrupt file is an error (allocations must not be
// silently forgotten).
func (s Store) Load() ([]ipam.Allocation, error) {
	data, err := atomicfile.Read(s.Path)
	if err != nil || data == nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt: %w", s.Path, err)
	}
	if f.Version > FormatVersion {
		return nil, fmt.Errorf("state file %s has version %d, newer than supported %d", s.Path, f.Version, FormatVersion)
	}
	return f.Allocations, nil
}

// Save atomically replaces the state file with allocs, creating its directory.
func (s Store) Save(allocs []ipam.Allocation) error {
	if allocs == nil {
		allocs = []ipam.Allocation{}
	}
	data, err := json.MarshalIndent(File{Version: FormatVersion, Allocations: allocs}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.Path, append(data, '\n'), 0o644)
}
