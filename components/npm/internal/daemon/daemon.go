// Package daemon runs the azure-npm policy watcher: it polls a directory of
// policy files and serves /healthz and /metrics.
package daemon

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/acn-monorepo/acn/components/npm/internal/metrics"
	"github.com/acn-monorepo/acn/components/npm/internal/policy"
)

// Daemon holds the latest policy snapshot.
type Daemon struct {
	dir      string
	interval time.Duration
	version  string
	log      *log.Logger
	now      func() time.Time

	mu       sync.RWMutex
	snap     policy.Snapshot
	scans    uint64
	lastScan time.Time

	// Only touched by Scan (serialised by scanMu): what was last logged, so
	// an unchanged directory does not repeat the same lines every interval.
	scanMu      sync.Mutex
	loggedBad   map[string]string
	loggedDir   string
	loggedState string
}

// New returns a daemon watching dir every interval.
func New(dir string, interval time.Duration, version string, logger *log.Logger) *Daemon {
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	return &Daemon{dir: dir, interval: interval, version: version, log: logger, now: time.Now, loggedBad: map[string]string{}}
}

// Snapshot returns the latest scan result.
func (d *Daemon) Snapshot() policy.Snapshot {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.snap
}

// Scan reads the policy directory once. It never fails: an unreadable
// directory counts as zero policies, invalid files are logged and skipped.
func (d *Daemon) Scan() {
	d.scanMu.Lock()
	defer d.scanMu.Unlock()
	snap, err := policy.LoadDir(d.dir)
	dirMsg := ""
	if err != nil {
		dirMsg = err.Error()
	}
	if dirMsg != d.loggedDir {
		if dirMsg != "" {
			d.log.Printf("warning: cannot read policy directory %s: %v (treating as no policies)", d.dir, err)
		} else {
			d.log.Printf("policy directory %s is readable", d.dir)
		}
		d.loggedDir = dirMsg
	}
	bad := map[string]string{}
	for _, f := range snap.Invalid {
		bad[f.Path] = f.Err.Error()
		if d.loggedBad[f.Path] != f.Err.Error() {
			d.log.Printf("skipping invalid policy file %s: %v", f.Path, f.Err)
		}
	}
	d.loggedBad = bad
	state := fmt.Sprint(len(snap.Policies), " ", len(snap.Invalid), " ", keys(snap))
	if state != d.loggedState {
		d.log.Printf("loaded %d policies from %s (%d invalid files)", len(snap.Policies), d.dir, len(snap.Invalid))
		d.loggedState = state
	}

	d.mu.Lock()
	d.snap = snap
	d.scans++
	d.lastScan = d.now()
	d.mu.Unlock()
}

func keys(s policy.Snapshot) []string {
	out := make([]string, len(s.Policies))
	for i, p := range s.Policies {
		out[i] = p.Key()
	}
	return out
}

// Run scans every interval until ctx is done. Call Scan first for an
// immediate scan.
func (d *Daemon) Run(ctx context.Context) {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.Scan()
		}
	}
}

// Values returns the current metric values.
func (d *Daemon) Values() metrics.Values {
	d.mu.RLock()
	defer d.mu.RUnlock()
	v := metrics.Values{
		Version:      d.version,
		NumPolicies:  len(d.snap.Policies),
		PerNamespace: d.snap.PerNamespace(),
		InvalidFiles: len(d.snap.Invalid),
		Scans:        d.scans,
	}
	if !d.lastScan.IsZero() {
		v.LastScanTimestamp = float64(d.lastScan.UnixMilli()) / 1000
	}
	return v
}

// Handler serves GET /healthz ("ok") and GET /metrics (Prometheus text).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", metrics.ContentType)
		metrics.Write(w, d.Values())
	})
	return mux
}
