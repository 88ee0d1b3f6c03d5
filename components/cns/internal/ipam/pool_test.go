package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func mustPool(t *testing.T, cidrs ...string) *Pool {
	t.Helper()
	ps, err := ParsePrefixes(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return NewPool(ps)
}

func pod(name string) PodInfo {
	return PodInfo{PodName: name, PodNamespace: "default", InfraContainerID: "c-" + name}
}

func TestParsePrefixes(t *testing.T) {
	ps, err := ParsePrefixes([]string{" 10.240.0.5/28 ", "", "fd00::/64"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].String() != "10.240.0.0/28" || ps[1].String() != "fd00::/64" {
		t.Fatalf("got %v", ps)
	}
	for _, bad := range [][]string{{"10.0.0.0"}, {"nonsense/8"}, {"10.0.0.0/24", "10.0.0.128/25"}} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) succeeded", bad)
		}
	}
}

func TestAllocateSkipsNetworkAndBroadcastAndExhausts(t *testing.T) {
	p := mustPool(t, "10.240.0.0/29") // .1 - .6 usable
	for i := 1; i <= 6; i++ {
		a, changed, err := p.Allocate(pod(fmt.Sprint("p", i)))
		if err != nil || !changed {
			t.Fatalf("allocation %d: %v changed=%v", i, err, changed)
		}
		want := fmt.Sprintf("10.240.0.%d", i)
		if a.IPAddress != want || a.PrefixLength != 29 || a.Subnet != "10.240.0.0/29" {
			t.Fatalf("allocation %d = %+v, want %s/29", i, a, want)
		}
	}
	if _, _, err := p.Allocate(pod("p7")); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("err = %v, want ErrPoolExhausted", err)
	}
}

func TestAllocateIsIdempotentPerPod(t *testing.T) {
	p := mustPool(t, "10.240.0.0/28")
	a1, _, _ := p.Allocate(pod("a"))
	a2, changed, err := p.Allocate(pod("a"))
	if err != nil || changed || a1 != a2 {
		t.Fatalf("second allocate: %+v changed=%v err=%v; first %+v", a2, changed, err, a1)
	}
	// Same pod, new sandbox: same address, container ID updated.
	np := pod("a")
	np.InfraContainerID = "new"
	a3, changed, _ := p.Allocate(np)
	if !changed || a3.IPAddress != a1.IPAddress || a3.InfraContainerID != "new" {
		t.Fatalf("new sandbox: %+v changed=%v", a3, changed)
	}
	// Same name, other namespace: a different pod.
	other := pod("a")
	other.PodNamespace = "kube-system"
	a4, _, _ := p.Allocate(other)
	if a4.IPAddress == a1.IPAddress {
		t.Fatal("pods in different namespaces share an address")
	}
}

func TestAllocateValidates(t *testing.T) {
	p := mustPool(t, "10.240.0.0/28")
	if _, _, err := p.Allocate(PodInfo{PodName: "x"}); err == nil {
		t.Fatal("missing fields accepted")
	}
}

func TestReleaseAndReuseLowest(t *testing.T) {
	p := mustPool(t, "10.240.0.0/28")
	for _, n := range []string{"a", "b", "c"} {
		p.Allocate(pod(n))
	}
	if _, r := p.Release(pod("b")); r != Released {
		t.Fatalf("release b: %v", r)
	}
	if _, r := p.Release(pod("b")); r != NotFound {
		t.Fatalf("second release b: %v", r)
	}
	stale := pod("a")
	stale.InfraContainerID = "old-sandbox"
	if _, r := p.Release(stale); r != ContainerMismatch {
		t.Fatalf("stale release: %v", r)
	}
	d, _, _ := p.Allocate(pod("d"))
	if d.IPAddress != "10.240.0.2" {
		t.Fatalf("d got %s, want the freed 10.240.0.2", d.IPAddress)
	}
	noID := PodInfo{PodName: "a", PodNamespace: "default"}
	if _, r := p.Release(noID); r != Released {
		t.Fatalf("release without container id: %v", r)
	}
	if p.Len() != 2 {
		t.Fatalf("Len = %d", p.Len())
	}
}

func TestMultipleSubnetsAndSmallPrefixes(t *testing.T) {
	p := mustPool(t, "10.0.0.0/30", "10.0.1.0/31", "10.0.2.7/32")
	var got []string
	for i := 0; ; i++ {
		a, _, err := p.Allocate(pod(fmt.Sprint(i)))
		if err != nil {
			break
		}
		got = append(got, a.IPAddress)
	}
	want := []string{"10.0.0.1", "10.0.0.2", "10.0.1.0", "10.0.1.1", "10.0.2.7"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestIPv6SkipsAnycast(t *testing.T) {
	p := mustPool(t, "fd00::/120")
	a, _, err := p.Allocate(pod("a"))
	if err != nil || a.IPAddress != "fd00::1" || a.PrefixLength != 120 {
		t.Fatalf("%+v %v", a, err)
	}
}

func TestListOrderAndClone(t *testing.T) {
	p := mustPool(t, "10.1.0.0/28", "10.0.0.0/28")
	p.Allocate(pod("a"))
	p.Allocate(pod("b"))
	c := p.Clone()
	c.Release(pod("a"))
	if p.Len() != 2 || c.Len() != 1 {
		t.Fatalf("clone not independent: %d %d", p.Len(), c.Len())
	}
	l := p.List()
	if len(l) != 2 || l[0].IPAddress != "10.1.0.1" || l[1].IPAddress != "10.1.0.2" {
		t.Fatalf("List = %+v", l)
	}
}

func TestRestore(t *testing.T) {
	p := mustPool(t, "10.240.0.0/28")
	errs := p.Restore([]Allocation{
		{IPAddress: "10.240.0.9", PodInfo: pod("a")},
		{IPAddress: "10.240.0.9", PodInfo: pod("dup-addr")},
		{IPAddress: "10.240.0.10", PodInfo: pod("a")},
		{IPAddress: "10.240.0.15", PodInfo: pod("broadcast")},
		{IPAddress: "192.168.0.1", PodInfo: pod("outside")},
		{IPAddress: "garbage", PodInfo: pod("garbage")},
		{IPAddress: "10.240.0.3", PodInfo: PodInfo{PodName: "x"}},
	})
	if len(errs) != 6 {
		t.Fatalf("skipped %d entries, want 6: %v", len(errs), errs)
	}
	a, ok := p.Lookup("default/a")
	if !ok || a.IPAddress != "10.240.0.9" || a.PrefixLength != 28 {
		t.Fatalf("restored a = %+v %v", a, ok)
	}
	// The restored address is not handed out again.
	for i := 0; i < 13; i++ {
		b, _, err := p.Allocate(pod(fmt.Sprint("n", i)))
		if err != nil {
			t.Fatal(err)
		}
		if b.IPAddress == "10.240.0.9" {
			t.Fatal("restored address reallocated")
		}
	}
}

func TestLastAddr(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/24": "10.0.0.255", "10.0.0.0/8": "10.255.255.255", "10.0.0.16/28": "10.0.0.31",
		"fd00::/120": "fd00::ff", "0.0.0.0/0": "255.255.255.255",
	} {
		if got := lastAddr(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("lastAddr(%s) = %s, want %s", in, got, want)
		}
	}
}
