// Package server implements the azure-cns HTTP API.
//
//	GET  /network/health            200 {"status":"ok","version":"<v>"}
//	POST /network/requestipconfigs  200 Allocation (idempotent per namespace/name)
//	POST /network/releaseipconfigs  200 {"released":bool, ...}
//	GET  /debug/ipaddresses         200 [Allocation, ...]
//
// Errors are JSON {"error":"<message>","code":"<Code>"}.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/acn-monorepo/acn/components/cns/internal/ipam"
)

// Error codes carried in the "code" field of error responses.
const (
	CodeBadRequest       = "BadRequest"
	CodePoolExhausted    = "PoolExhausted"
	CodeMethodNotAllowed = "MethodNotAllowed"
	CodeNotFound         = "NotFound"
	CodeInternal         = "InternalError"
)

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 1 << 20

// Persister saves the full allocation list after every change.
type Persister interface {
	Save([]ipam.Allocation) error
}

// ErrorResponse is the body of every non-2xx response.
type ErrorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// HealthResponse is the body of GET /network/health.
type HealthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// ReleaseResponse is the body of POST /network/releaseipconfigs. When
// Released is true the freed allocation's fields are included.
type ReleaseResponse struct {
	Released bool   `json:"released"`
	Reason   string `json:"reason,omitempty"`
	*ipam.Allocation
}

// Server serialises access to the pool and persists every change.
type Server struct {
	mu      sync.Mutex
	pool    *ipam.Pool
	store   Persister
	version string
	log     *log.Logger
}

// New returns a server over pool. store may be nil (nothing is persisted).
func New(pool *ipam.Pool, store Persister, version string, logger *log.Logger) *Server {
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	return &Server{pool: pool, store: store, version: version, log: logger}
}

// Handler returns the HTTP handler with every route registered.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/network/health", method(http.MethodGet, s.health))
	mux.Handle("/network/requestipconfigs", method(http.MethodPost, s.request))
	mux.Handle("/network/releaseipconfigs", method(http.MethodPost, s.release))
	mux.Handle("/debug/ipaddresses", method(http.MethodGet, s.list))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.URL.Path)
	})
	return s.logRequests(mux)
}

func method(m string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && !(m == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, fmt.Sprintf("%s requires %s", r.URL.Path, m))
			return
		}
		h(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if r.URL.Path != "/network/health" {
			s.log.Printf("%s %s %d %s", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Microsecond))
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg, Code: code})
}

// decodePod reads a PodInfo body: exactly one JSON object, unknown fields ignored.
func decodePod(r *http.Request, w http.ResponseWriter) (ipam.PodInfo, error) {
	var pod ipam.PodInfo
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&pod); err != nil {
		if errors.Is(err, io.EOF) {
			return pod, errors.New("empty request body")
		}
		return pod, fmt.Errorf("malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return pod, errors.New("malformed JSON body: unexpected data after the object")
	}
	pod.PodName = strings.TrimSpace(pod.PodName)
	pod.PodNamespace = strings.TrimSpace(pod.PodNamespace)
	pod.InfraContainerID = strings.TrimSpace(pod.InfraContainerID)
	return pod, nil
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, HealthResponse{Status: "ok", Version: s.version})
}

// commit persists next and installs it; on failure the old pool stays.
func (s *Server) commit(next *ipam.Pool) error {
	if s.store != nil {
		if err := s.store.Save(next.List()); err != nil {
			return err
		}
	}
	s.pool = next
	return nil
}

func (s *Server) request(w http.ResponseWriter, r *http.Request) {
	pod, err := decodePod(r, w)
	if err == nil {
		err = pod.Validate()
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.pool.Clone()
	alloc, changed, err := next.Allocate(pod)
	if errors.Is(err, ipam.ErrPoolExhausted) {
		s.log.Printf("pool exhausted: no address for %s", pod.Key())
		writeError(w, http.StatusConflict, CodePoolExhausted, "no free address left in the ip pool")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	if changed {
		if err := s.commit(next); err != nil {
			s.log.Printf("persist allocation for %s: %v", pod.Key(), err)
			writeError(w, http.StatusInternalServerError, CodeInternal, "persist state: "+err.Error())
			return
		}
		s.log.Printf("allocated %s/%d to %s (container %s)", alloc.IPAddress, alloc.PrefixLength, pod.Key(), pod.InfraContainerID)
	}
	writeJSON(w, http.StatusOK, alloc)
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	pod, err := decodePod(r, w)
	if err == nil && (pod.PodName == "" || pod.PodNamespace == "") {
		err = errors.New("missing required field(s): podName and podNamespace are required")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.pool.Clone()
	alloc, result := next.Release(pod)
	switch result {
	case ipam.Released:
		if err := s.commit(next); err != nil {
			s.log.Printf("persist release for %s: %v", pod.Key(), err)
			writeError(w, http.StatusInternalServerError, CodeInternal, "persist state: "+err.Error())
			return
		}
		s.log.Printf("released %s from %s", alloc.IPAddress, pod.Key())
		writeJSON(w, http.StatusOK, ReleaseResponse{Released: true, Allocation: &alloc})
	default:
		s.log.Printf("release for %s (container %s) is a no-op: %s", pod.Key(), pod.InfraContainerID, result)
		writeJSON(w, http.StatusOK, ReleaseResponse{Released: false, Reason: result.String()})
	}
}

func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	allocs := s.pool.List()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, allocs)
}
