// Package ipam implements the address pool that azure-cns hands out to pods.
//
// A Pool is a set of subnets plus the allocations made from them. It is not
// safe for concurrent use: callers serialise access (the server holds a
// mutex around every allocate/persist sequence).
package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// ErrPoolExhausted is returned by Allocate when no free address is left.
var ErrPoolExhausted = errors.New("ip pool exhausted")

// PodInfo identifies the pod an address belongs to. The allocation key is
// PodNamespace/PodName; InfraContainerID records the sandbox that holds it.
type PodInfo struct {
	PodName          string `json:"podName"`
	PodNamespace     string `json:"podNamespace"`
	InfraContainerID string `json:"infraContainerID"`
}

// Key is the idempotency key of an allocation: "<namespace>/<name>".
func (p PodInfo) Key() string { return p.PodNamespace + "/" + p.PodName }

// Validate reports which required fields are missing.
func (p PodInfo) Validate() error {
	var missing []string
	if strings.TrimSpace(p.PodName) == "" {
		missing = append(missing, "podName")
	}
	if strings.TrimSpace(p.PodNamespace) == "" {
		missing = append(missing, "podNamespace")
	}
	if strings.TrimSpace(p.InfraContainerID) == "" {
		missing = append(missing, "infraContainerID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required field(s): %s", strings.Join(missing, ", "))
	}
	return nil
}

// Allocation is one address handed to one pod. It is both the API shape and
// the persisted shape.
type Allocation struct {
	IPAddress    string `json:"ipAddress"`
	PrefixLength int    `json:"prefixLength"`
	Subnet       string `json:"subnet"`
	Gateway      string `json:"gateway,omitempty"`
	PodInfo
}

type entry struct {
	addr   netip.Addr
	subnet int // index into Pool.subnets
	pod    PodInfo
}

// Pool hands out addresses from a fixed list of subnets.
type Pool struct {
	subnets []netip.Prefix
	byKey   map[string]*entry
	byAddr  map[netip.Addr]*entry
}

// ParsePrefixes parses CIDR strings, masking host bits ("10.0.0.5/24" is
// accepted as 10.0.0.0/24) and rejecting duplicates or overlaps.
func ParsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, raw := range cidrs {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		p, err := netip.ParsePrefix(raw)
		if err != nil {
			return nil, fmt.Errorf("invalid ip pool entry %q: %v", raw, err)
		}
		p = p.Masked()
		for _, q := range out {
			if q.Overlaps(p) {
				return nil, fmt.Errorf("ip pool entries %s and %s overlap", q, p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// NewPool returns an empty pool over the given subnets (see ParsePrefixes).
func NewPool(subnets []netip.Prefix) *Pool {
	return &Pool{
		subnets: append([]netip.Prefix(nil), subnets...),
		byKey:   map[string]*entry{},
		byAddr:  map[netip.Addr]*entry{},
	}
}

// Subnets returns the pool's subnets in configuration order.
func (p *Pool) Subnets() []netip.Prefix { return append([]netip.Prefix(nil), p.subnets...) }

// Len returns the number of allocations.
func (p *Pool) Len() int { return len(p.byKey) }

// Clone returns an independent copy (used to roll back on persist failure).
func (p *Pool) Clone() *Pool {
	c := NewPool(p.subnets)
	for k, e := range p.byKey {
		cp := *e
		c.byKey[k] = &cp
		c.byAddr[cp.addr] = &cp
	}
	return c
}

// usable reports whether addr may be handed out from subnet s. For IPv4 the
// network and broadcast addresses are skipped (except in /31 and /32); for
// IPv6 the subnet-router anycast (network) address is skipped (except /127, /128).
func usable(s netip.Prefix, addr netip.Addr) bool {
	if !s.Contains(addr) {
		return false
	}
	bits := s.Bits()
	if s.Addr().Is4() {
		if bits >= 31 {
			return true
		}
		return addr != s.Addr() && addr != lastAddr(s)
	}
	if bits >= 127 {
		return true
	}
	return addr != s.Addr()
}

// lastAddr returns the highest address of a masked prefix.
func lastAddr(s netip.Prefix) netip.Addr {
	b := s.Addr().AsSlice()
	bits := s.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (p *Pool) toAllocation(e *entry) Allocation {
	s := p.subnets[e.subnet]
	return Allocation{
		IPAddress:    e.addr.String(),
		PrefixLength: s.Bits(),
		Subnet:       s.String(),
		PodInfo:      e.pod,
	}
}

// Lookup returns the allocation held under key ("<namespace>/<name>").
func (p *Pool) Lookup(key string) (Allocation, bool) {
	e, ok := p.byKey[key]
	if !ok {
		return Allocation{}, false
	}
	return p.toAllocation(e), true
}

// Allocate returns the address of pod, allocating the lowest free address if
// the pod has none yet. It is idempotent on pod.Key(): a repeated request gets
// the same address (and the recorded InfraContainerID is updated to the new
// one). changed reports whether the pool was modified.
func (p *Pool) Allocate(pod PodInfo) (alloc Allocation, changed bool, err error) {
	if err := pod.Validate(); err != nil {
		return Allocation{}, false, err
	}
	if e, ok := p.byKey[pod.Key()]; ok {
		if e.pod.InfraContainerID != pod.InfraContainerID {
			e.pod.InfraContainerID = pod.InfraContainerID
			changed = true
		}
		return p.toAllocation(e), changed, nil
	}
	for i, s := range p.subnets {
		for a := s.Addr(); a.IsValid() && s.Contains(a); a = a.Next() {
			if !usable(s, a) {
				continue
			}
			if _, taken := p.byAddr[a]; taken {
				continue
			}
			e := &entry{addr: a, subnet: i, pod: pod}
			p.byKey[pod.Key()] = e
			p.byAddr[a] = e
			return p.toAllocation(e), true, nil
		}
	}
	return Allocation{}, false, ErrPoolExhausted
}

// ReleaseResult says what Release did.
type ReleaseResult int

const (
	// Released means the allocation was freed.
	Released ReleaseResult = iota
	// NotFound means the pod held no allocation (a no-op).
	NotFound
	// ContainerMismatch means the pod's allocation is recorded for a different
	// infra container (a newer sandbox of the same pod): it is kept.
	ContainerMismatch
)

func (r ReleaseResult) String() string {
	switch r {
	case Released:
		return "released"
	case NotFound:
		return "not found"
	case ContainerMismatch:
		return "held by a different infra container"
	}
	return "unknown"
}

// Release frees the address of pod. The allocation is only freed when its
// recorded InfraContainerID equals pod.InfraContainerID (or the request's is
// empty), so a late release from an old sandbox never frees the address of
// the pod's current sandbox.
func (p *Pool) Release(pod PodInfo) (Allocation, ReleaseResult) {
	e, ok := p.byKey[pod.Key()]
	if !ok {
		return Allocation{}, NotFound
	}
	alloc := p.toAllocation(e)
	if pod.InfraContainerID != "" && pod.InfraContainerID != e.pod.InfraContainerID {
		return alloc, ContainerMismatch
	}
	delete(p.byKey, pod.Key())
	delete(p.byAddr, e.addr)
	return alloc, Released
}

// List returns every allocation, ordered by subnet (configuration order) then address.
func (p *Pool) List() []Allocation {
	entries := make([]*entry, 0, len(p.byKey))
	for _, e := range p.byKey {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].subnet != entries[j].subnet {
			return entries[i].subnet < entries[j].subnet
		}
		return entries[i].addr.Less(entries[j].addr)
	})
	out := make([]Allocation, 0, len(entries))
	for _, e := range entries {
		out = append(out, p.toAllocation(e))
	}
	return out
}

// Restore re-inserts previously persisted allocations. Allocations that no
// longer fit the pool (address outside every subnet or reserved, duplicate
// address or pod, missing fields) are skipped; one error per skipped entry is
// returned so the caller can log it.
func (p *Pool) Restore(allocs []Allocation) []error {
	var skipped []error
	for _, a := range allocs {
		if err := a.PodInfo.Validate(); err != nil {
			skipped = append(skipped, fmt.Errorf("allocation %s: %v", a.IPAddress, err))
			continue
		}
		addr, err := netip.ParseAddr(a.IPAddress)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("allocation for %s: invalid ipAddress %q", a.Key(), a.IPAddress))
			continue
		}
		idx := -1
		for i, s := range p.subnets {
			if usable(s, addr) {
				idx = i
				break
			}
		}
		if idx < 0 {
			skipped = append(skipped, fmt.Errorf("allocation %s for %s: address is not in the ip pool", addr, a.Key()))
			continue
		}
		if other, ok := p.byAddr[addr]; ok {
			skipped = append(skipped, fmt.Errorf("allocation %s for %s: address already held by %s", addr, a.Key(), other.pod.Key()))
			continue
		}
		if _, ok := p.byKey[a.Key()]; ok {
			skipped = append(skipped, fmt.Errorf("allocation %s for %s: pod already has an address", addr, a.Key()))
			continue
		}
		e := &entry{addr: addr, subnet: idx, pod: a.PodInfo}
		p.byKey[a.Key()] = e
		p.byAddr[addr] = e
	}
	return skipped
}
