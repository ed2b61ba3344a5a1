package ipam

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/heraldlb/herald/internal/model"
)

// Config decides which Services are Herald's.
type Config struct {
	// Classes are the loadBalancerClass values Herald serves besides an unset class.
	Classes []string
	// ClassPrefix admits every class starting with it ("herald.io/").
	ClassPrefix string
}

// DefaultConfig serves unset classes, herald.io/* and Cilium's two classes, so that Services
// migrating from Cilium need no edit (SEMANTICS.md).
func DefaultConfig() Config {
	return Config{
		ClassPrefix: "herald.io/",
		Classes:     []string{"io.cilium/bgp-control-plane", "io.cilium/l2-announcer"},
	}
}

// Allocator hands out LoadBalancer addresses from pools. It is not safe for concurrent use:
// its owner (a controller loop) serialises calls.
type Allocator struct {
	cfg    Config
	pools  []*pool // in choice order
	byName map[string]*pool
	leases map[netip.Addr]*lease
	svcs   map[model.ServiceKey]*svcState
	shared map[string][]*lease // sharing key -> leases carrying it
	// set is what SetPools was last given, to recognise the same pools again.
	set []model.Pool
}

// lease is one allocated address and the Services holding it.
type lease struct {
	addr netip.Addr
	// pool is the pool the address belongs to; nil when an adopted address lies in no pool
	// (such a lease is kept off other owners but is never valid for its Service).
	pool   *pool
	key    string // sharing key; "" is exclusive
	owners []*svcState
	// ownerBuf backs owners for the usual single owner, saving an allocation per lease.
	ownerBuf [1]*svcState
}

// svcState is what the allocator remembers of a Service between calls. It keeps only what
// other Services' sharing checks read, not the whole model.Service: at 100,000 Services a full
// copy was 60 MB of a 360 MB heap, and every call that needs the rest is handed the Service.
type svcState struct {
	key    model.ServiceKey
	share  *sharing // nil without a sharing key: nobody else ever looks at the Service
	leases []*lease
	result Result
	// leaseBuf backs leases for the usual one or two (dual-stack) addresses.
	leaseBuf [2]*lease
}

// sharing is the part of a Service that decides whether another Service may share its
// address. The slices and the map are the model's own, never modified.
type sharing struct {
	sharingKey     string
	crossNamespace []string
	ports          []model.Port
	etp            model.TrafficPolicy
	selector       map[string]string
}

func sharingOf(s *model.Service) *sharing {
	if s.Request.SharingKey == "" {
		return nil
	}
	return &sharing{sharingKey: s.Request.SharingKey, crossNamespace: s.Request.SharingCrossNamespace,
		ports: s.Ports, etp: etp(s.ExternalTrafficPolicy), selector: s.Selector}
}

// sharingKey is the key the Service last asked to share under; "" is exclusive.
func (st *svcState) sharingKey() string {
	if st.share == nil {
		return ""
	}
	return st.share.sharingKey
}

// New returns an empty allocator.
func New(cfg Config) *Allocator {
	return &Allocator{
		cfg:    cfg,
		byName: map[string]*pool{},
		leases: map[netip.Addr]*lease{},
		svcs:   map[model.ServiceKey]*svcState{},
		shared: map[string][]*lease{},
	}
}

// Ours reports whether Herald allocates for the Service at all.
func (a *Allocator) Ours(s *model.Service) bool {
	if !s.IsLoadBalancer() {
		return false
	}
	c := s.LoadBalancerClass
	return c == "" || slices.Contains(a.cfg.Classes, c) || (a.cfg.ClassPrefix != "" && strings.HasPrefix(c, a.cfg.ClassPrefix))
}

// SetPools replaces the pools. Existing leases stay where they are: each address is taken out
// of the free list of the pool that now holds it, so nothing leased can be handed out again.
// Callers re-Upsert every Service afterwards, which releases leases that are no longer valid.
// The same pools again change nothing and cost nothing: every reconcile passes them, and
// rebuilding the free lists from every lease took 70 ms at 100k Services (a quarter of
// withdrawing them all). The caller must not modify pools after the call.
func (a *Allocator) SetPools(pools []model.Pool) {
	if a.set != nil && reflect.DeepEqual(a.set, pools) {
		return
	}
	a.set = slices.Clone(pools)
	a.pools = a.pools[:0]
	a.byName = make(map[string]*pool, len(pools))
	for _, mp := range pools {
		p := newPool(mp)
		a.pools = append(a.pools, p)
		a.byName[p.Name] = p
	}
	markConflicts(a.pools)
	slices.SortFunc(a.pools, choiceOrder)
	for _, p := range a.pools {
		if p.conflictsWith != "" {
			continue
		}
		for _, b := range p.blocks {
			b.free = newFreeList(b.lo, b.hi)
		}
	}
	for _, l := range a.leases {
		l.pool = nil
		if b := a.findBlock(l.addr); b != nil {
			l.pool = b.pool
			if b.free != nil {
				b.free.take(l.addr)
			}
			b.pool.used++
		}
	}
}

// findBlock returns the block holding addr, preferring a non-conflicting pool.
func (a *Allocator) findBlock(addr netip.Addr) *block {
	var fallback *block
	for _, p := range a.pools {
		if b := p.blockOf(addr); b != nil {
			if p.conflictsWith == "" {
				return b
			}
			if fallback == nil {
				fallback = b
			}
		}
	}
	return fallback
}

// Restore adopts the addresses a Service already has (status.loadBalancer.ingress or the
// store). Call it for every Service, oldest first, before any Upsert: that way no address
// anybody holds is handed to someone else, and a restart reshuffles nothing. An address that
// another Service already holds is adopted only if the two may share it; otherwise the later
// Service is left to Upsert, which reports the clash.
func (a *Allocator) Restore(s *model.Service) {
	if !a.Ours(s) || len(s.Ingress) == 0 {
		return
	}
	st := a.state(s)
	for _, addr := range s.Ingress {
		if st.holds(addr) {
			continue
		}
		if l, ok := a.leases[addr]; ok {
			if l.key != "" && l.key == s.Request.SharingKey && compatible(l, st) == "" {
				a.join(l, st)
			}
			continue
		}
		a.newLease(addr, nil, st)
	}
}

func (a *Allocator) state(s *model.Service) *svcState {
	st, ok := a.svcs[s.Key]
	if !ok {
		st = &svcState{}
		st.leases = st.leaseBuf[:0]
		a.svcs[s.Key] = st
	}
	st.key = s.Key
	// A Service whose annotations cannot be read keeps what it holds, and so also the
	// sharing terms it holds it under.
	if !ok || len(s.Request.Problems) == 0 {
		st.share = sharingOf(s)
	}
	return st
}

func (st *svcState) holds(addr netip.Addr) bool {
	for _, l := range st.leases {
		if l.addr == addr {
			return true
		}
	}
	return false
}

// newLease records addr as leased to st, taking it from its pool's free list. b is the block
// when the caller already knows it.
func (a *Allocator) newLease(addr netip.Addr, b *block, st *svcState) *lease {
	if b == nil {
		b = a.findBlock(addr)
	}
	key := st.sharingKey()
	l := &lease{addr: addr, key: key}
	l.owners = l.ownerBuf[:0]
	if b != nil {
		l.pool = b.pool
		if b.free != nil {
			b.free.take(addr)
		}
		b.pool.used++
	}
	a.leases[addr] = l
	if key != "" {
		a.shared[key] = append(a.shared[key], l)
	}
	a.join(l, st)
	return l
}

func (a *Allocator) join(l *lease, st *svcState) {
	l.owners = append(l.owners, st)
	st.leases = append(st.leases, l)
}

// leave removes st from l, freeing the address when nobody holds it any more.
func (a *Allocator) leave(l *lease, st *svcState) {
	l.owners = slices.DeleteFunc(l.owners, func(o *svcState) bool { return o == st })
	st.leases = slices.DeleteFunc(st.leases, func(x *lease) bool { return x == l })
	if len(l.owners) > 0 {
		return
	}
	delete(a.leases, l.addr)
	a.rekey(l, "")
	if l.pool == nil {
		return
	}
	l.pool.used--
	if b := l.pool.blockOf(l.addr); b != nil && b.free != nil && b.allocatable(l.addr) {
		b.free.put(l.addr)
	}
}

// Delete releases everything the Service holds.
func (a *Allocator) Delete(key model.ServiceKey) {
	st, ok := a.svcs[key]
	if !ok {
		return
	}
	for _, l := range slices.Clone(st.leases) {
		a.leave(l, st)
	}
	delete(a.svcs, key)
}

// Result returns the last result computed for a Service.
func (a *Allocator) Result(key model.ServiceKey) (Result, bool) {
	st, ok := a.svcs[key]
	if !ok {
		return Result{}, false
	}
	return st.result, true
}

// Results returns every tracked Service's result, sorted by key.
func (a *Allocator) Results() []Result {
	out := make([]Result, 0, len(a.svcs))
	for _, st := range a.svcs {
		out = append(out, st.result)
	}
	slices.SortFunc(out, func(x, y Result) int { return x.Service.Compare(y.Service) })
	return out
}

// Services returns the keys of every tracked Service.
func (a *Allocator) Services() []model.ServiceKey {
	return slices.SortedFunc(maps.Keys(a.svcs), model.ServiceKey.Compare)
}

// compatible returns "" when st may share l, or why not.
func compatible(l *lease, st *svcState) string {
	s := st.share
	if l.key == "" || s == nil || l.key != s.sharingKey {
		return "different sharing key"
	}
	for _, o := range l.owners {
		if o == st {
			continue
		}
		// Every other owner joined under l.key, and a key change with company leaves the
		// lease (revalidate), so o.share is set; the check keeps a broken invariant from
		// becoming a crash.
		os := o.share
		if os == nil {
			return fmt.Sprintf("%s holds the address without a sharing key", o.key)
		}
		if o.key.Namespace != st.key.Namespace &&
			!(allowsNamespace(s.crossNamespace, o.key.Namespace) &&
				allowsNamespace(os.crossNamespace, st.key.Namespace)) {
			return fmt.Sprintf("%s is in another namespace and both Services must allow it with a sharing-cross-namespace annotation", o.key)
		}
		if p, clash := portClash(os.ports, s.ports); clash {
			return fmt.Sprintf("port %s is already used by %s", p, o.key)
		}
		if os.etp != s.etp {
			return fmt.Sprintf("externalTrafficPolicy %s differs from %s's %s", s.etp, o.key, os.etp)
		}
		if s.etp == model.TrafficLocal && (len(s.selector) == 0 || !maps.Equal(s.selector, os.selector)) {
			return fmt.Sprintf("with externalTrafficPolicy Local both Services need the same pod selector (%s differs)", o.key)
		}
	}
	return ""
}

func etp(p model.TrafficPolicy) model.TrafficPolicy {
	if p == "" {
		return model.TrafficCluster
	}
	return p
}

func allowsNamespace(list []string, ns string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, ns)
}

func portClash(a, b []model.Port) (model.Port, bool) {
	for _, x := range a {
		for _, y := range b {
			if x.Port == y.Port && protocol(x) == protocol(y) {
				return y, true
			}
		}
	}
	return model.Port{}, false
}

func protocol(p model.Port) string {
	if p.Protocol == "" {
		return "TCP"
	}
	return p.Protocol
}
