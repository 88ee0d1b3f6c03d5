// Package store records azure-vnet attachments in a JSON state file. Every
// update happens under an exclusive lock on "<state>.lock" and is written
// atomically (temporary file, fsync, rename).
package store

import (
	"encoding/json"
	"fmt"
	"github.com/acn-monorepo/acn/components/internal/atomicfile"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/acn-monorepo/acn/components/internal/cni"
)

// DefaultPath is used when AZURE_VNET_STATE_FILE is not set.
const DefaultPath = "/var/run/azure-vnet.json"

// FormatVersion is the version of the state file layout.
const FormatVersion = 1

// LockTimeout bounds how long an update waits for the lock.
var LockTimeout = 30 * time.Second

// Attachment is one container interface attached by ADD.
type Attachment struct {
	ContainerID  string     `json:"containerID"`
	IfName       string     `json:"ifName"`
	Netns        string     `json:"netns,omitempty"`
	Network      string     `json:"network"`
	PodName      string     `json:"podName,omitempty"`
	PodNamespace string     `json:"podNamespace,omitempty"`
	IPAMType     string     `json:"ipamType"`
	Result       cni.Result `json:"result"`
	CreatedAt    time.Time  `json:"createdAt"`
}

// State is the on-disk layout:
//
//	{"version": 1, "attachments": {"<containerID>/<ifName>": Attachment}}
type State struct {
	Version     int                   `json:"version"`
	Attachments map[string]Attachment `json:"attachments"`
}

// Key is the attachment key "<containerID>/<ifName>".
func Key(containerID, ifName string) string { return containerID + "/" + ifName }

// Keys returns the attachment keys in sorted order.
func (s *State) Keys() []string {
	keys := make([]string, 0, len(s.Attachments))
	for k := range s.Attachments {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Store is one state file.
type Store struct {
	Path string
}

// Load reads the state without locking. A missing or empty file is an empty state.
func (s Store) Load() (*State, error) {
	st := &State{Version: FormatVersion, Attachments: map[string]Attachment{}}
	data, err := atomicfile.Read(s.Path)
	if err != nil || data == nil {
		return st, err
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt: %w", s.Path, err)
	}
	if st.Version > FormatVersion {
		return nil, fmt.Errorf("state file %s has version %d, newer than supported %d", s.Path, st.Version, FormatVersion)
	}
	st.Version = FormatVersion
	if st.Attachments == nil {
		st.Attachments = map[string]Attachment{}
	}
	return st, nil
}

// Update locks the state file, loads it, applies fn and, if fn succeeds,
// writes the result atomically.
func (s Store) Update(fn func(*State) error) error {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	unlock, err := lock(s.Path+".lock", LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.Load()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.Path, append(data, '\n'), 0o644)
}
