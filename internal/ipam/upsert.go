package ipam

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/heraldlb/herald/internal/model"
)

// Reason says why a Service is (not) satisfied. The values are stable: they appear in Service
// conditions, metrics labels and scripts.
type Reason string

// Reasons.
const (
	Satisfied            Reason = "satisfied"
	NoPool               Reason = "no_pool"
	PoolSelectorMismatch Reason = "pool_selector_mismatch"
	PoolDisabled         Reason = "pool_disabled"
	PoolConflicting      Reason = "pool_conflicting"
	OutOfIPs             Reason = "out_of_ips"
	AlreadyAllocated     Reason = "already_allocated"
	IncompatibleSharing  Reason = "incompatible_sharing"
	ReservedIP           Reason = "reserved_ip"
	BadAnnotation        Reason = "bad_annotation"
	NotOurs              Reason = "not_ours"
)

// Meaning says in words what an unsatisfied result's reason means, for people who do not
// know the codes (herald doctor, the status page).
func (r Reason) Meaning() string {
	switch r {
	case NoPool:
		return "no pool can give this Service an address"
	case PoolSelectorMismatch:
		return "pools exist but their selectors do not pick this Service"
	case PoolDisabled:
		return "the pools that would serve this Service are disabled"
	case PoolConflicting:
		return "the requested address is in a pool that overlaps an older pool, and conflicting pools allocate nothing"
	case OutOfIPs:
		return "every pool that serves this Service is full"
	case AlreadyAllocated:
		return "the requested address belongs to another Service"
	case IncompatibleSharing:
		return "the Services sharing the address cannot share it with this one"
	case ReservedIP:
		return "the requested address is a network, broadcast or avoided .0/.255 address of its pool"
	case BadAnnotation:
		return "an IPAM annotation or spec.loadBalancerIP cannot be read"
	default:
		return string(r)
	}
}

// Result is the outcome for one Service.
type Result struct {
	Service   model.ServiceKey
	Satisfied bool
	Reason    Reason
	// Message explains an unsatisfied result in words a user can act on.
	Message string
	// Addrs are the addresses the Service holds (IPv4 first), and Pools the pool of each.
	Addrs []netip.Addr
	Pools []string
}

// failure is one family's reason for not getting an address.
type failure struct {
	reason Reason
	msg    string
	// requested marks a family the Service named an address for; PreferDualStack may go
	// without a family the allocator could not fill, never without one the user asked for.
	requested bool
}

// Upsert computes the Service's addresses: it keeps what is still valid, takes requested or
// shared addresses, allocates the missing families and releases what is no longer wanted.
//
// When the Service cannot be satisfied, nothing new is kept and the result says why. A Service
// whose annotations are malformed keeps everything it already holds: a typo must not move a
// Service off its address.
func (a *Allocator) Upsert(s *model.Service) Result {
	if !a.Ours(s) {
		a.Delete(s.Key)
		return Result{Service: s.Key, Reason: NotOurs}
	}
	st := a.state(s)
	if len(s.Request.Problems) > 0 {
		msgs := make([]string, len(s.Request.Problems))
		for i, p := range s.Request.Problems {
			msgs[i] = p.Error()
		}
		st.result = st.resultWith(false, BadAnnotation, strings.Join(msgs, "; "))
		return st.result
	}

	fams, partialOK := s.WantedFamilies()
	var keep, drop []*lease
	for _, l := range st.leases {
		if a.revalidate(l, st, s, fams) {
			keep = append(keep, l)
		} else {
			drop = append(drop, l)
		}
	}
	have := func(f model.Family) bool {
		for _, l := range keep {
			if model.FamilyOf(l.addr) == f {
				return true
			}
		}
		return false
	}

	// Release what is no longer valid first, so that acquiring below sees the address as
	// free and checks it from scratch rather than finding it still held by this Service.
	for _, l := range drop {
		a.leave(l, st)
	}
	var added []*lease
	var fails []failure
	for _, f := range fams {
		if have(f) {
			continue
		}
		l, fail := a.acquire(st, s, f)
		if l == nil {
			fails = append(fails, fail)
			continue
		}
		added = append(added, l)
		keep = append(keep, l)
	}

	ok := len(fails) == 0 || (partialOK && len(fails) < len(fams) && !slices.ContainsFunc(fails, func(f failure) bool { return f.requested }))
	if !ok {
		for _, l := range added {
			a.leave(l, st)
		}
	}
	if ok {
		st.result = st.resultWith(true, Satisfied, "")
	} else {
		st.result = st.resultWith(false, fails[0].reason, joinFailures(fails))
	}
	return st.result
}

func joinFailures(fs []failure) string {
	msgs := make([]string, len(fs))
	for i, f := range fs {
		msgs[i] = f.msg
	}
	return strings.Join(msgs, "; ")
}

func (st *svcState) resultWith(ok bool, r Reason, msg string) Result {
	res := Result{Service: st.key, Satisfied: ok, Reason: r, Message: msg}
	if len(st.leases) == 0 {
		return res
	}
	// The order of st.leases means nothing elsewhere, so sort in place rather than copy.
	slices.SortFunc(st.leases, func(x, y *lease) int { return x.addr.Compare(y.addr) })
	res.Addrs = make([]netip.Addr, len(st.leases))
	res.Pools = make([]string, len(st.leases))
	for i, l := range st.leases {
		res.Addrs[i] = l.addr
		if l.pool != nil {
			res.Pools[i] = l.pool.Name
		}
	}
	return res
}

// revalidate reports whether a held lease still fits the Service as it is now. A Service that
// changed its sharing key keeps an address it holds alone, under the new key.
func (a *Allocator) revalidate(l *lease, st *svcState, s *model.Service, fams []model.Family) bool {
	if l.pool == nil || !slices.Contains(fams, model.FamilyOf(l.addr)) {
		return false
	}
	if len(s.Request.IPs) > 0 && !slices.Contains(s.Request.IPs, l.addr) && hasFamily(s.Request.IPs, model.FamilyOf(l.addr)) {
		return false
	}
	if s.Request.Pool != "" && l.pool.Name != s.Request.Pool {
		return false
	}
	if !l.pool.Serves(s) {
		return false
	}
	if l.key != s.Request.SharingKey {
		if len(l.owners) > 1 {
			return false
		}
		a.rekey(l, s.Request.SharingKey)
	}
	// A Service whose own change (ports, policy, selector) makes it clash with the others
	// sharing the address is the one that leaves: its edit must not move anybody else.
	return len(l.owners) == 1 || compatible(l, st) == ""
}

func (a *Allocator) rekey(l *lease, key string) {
	if l.key != "" {
		a.shared[l.key] = slices.DeleteFunc(a.shared[l.key], func(x *lease) bool { return x == l })
		if len(a.shared[l.key]) == 0 {
			delete(a.shared, l.key)
		}
	}
	l.key = key
	if key != "" {
		a.shared[key] = append(a.shared[key], l)
	}
}

func hasFamily(addrs []netip.Addr, f model.Family) bool {
	for _, x := range addrs {
		if model.FamilyOf(x) == f {
			return true
		}
	}
	return false
}

// acquire gets one address of family f: the requested one, a compatible shared one, or the
// first free address of the first pool that serves the Service.
func (a *Allocator) acquire(st *svcState, s *model.Service, f model.Family) (*lease, failure) {
	for _, addr := range s.Request.IPs {
		if model.FamilyOf(addr) == f {
			l, fail := a.acquireRequested(st, s, addr)
			fail.requested = true
			return l, fail
		}
	}
	if key := s.Request.SharingKey; key != "" {
		for _, l := range a.shared[key] {
			if model.FamilyOf(l.addr) == f && l.pool != nil && l.pool.conflictsWith == "" &&
				(s.Request.Pool == "" || s.Request.Pool == l.pool.Name) && l.pool.Serves(s) && compatible(l, st) == "" {
				a.join(l, st)
				return l, failure{}
			}
		}
	}
	return a.acquireNew(st, s, f)
}

func (a *Allocator) acquireRequested(st *svcState, s *model.Service, addr netip.Addr) (*lease, failure) {
	// The pool checks come first, also for an address others already hold: joining a shared
	// address is only right where the Service could have been given it in the first place.
	b := a.findBlock(addr)
	switch {
	case b == nil:
		return nil, failure{reason: NoPool, msg: fmt.Sprintf("requested %s is outside every pool", addr)}
	case b.pool.conflictsWith != "":
		return nil, failure{reason: PoolConflicting, msg: fmt.Sprintf("requested %s is in pool %s, which overlaps pool %s and allocates nothing", addr, b.pool.Name, b.pool.conflictsWith)}
	case s.Request.Pool != "" && s.Request.Pool != b.pool.Name:
		return nil, failure{reason: PoolSelectorMismatch, msg: fmt.Sprintf("requested %s is in pool %s, but the Service asks for pool %s", addr, b.pool.Name, s.Request.Pool)}
	case !b.pool.Serves(s):
		return nil, failure{reason: PoolSelectorMismatch, msg: fmt.Sprintf("requested %s is in pool %s, whose selectors do not match this Service (%s)", addr, b.pool.Name, b.pool.ServiceSelector)}
	}
	if l, ok := a.leases[addr]; ok {
		// Joining an address already handed out is not a new allocation, so a disabled pool
		// does not stop it.
		why := compatible(l, st)
		switch {
		case why == "":
			a.join(l, st)
			return l, failure{}
		case l.key != "" && s.Request.SharingKey != "":
			return nil, failure{reason: IncompatibleSharing, msg: fmt.Sprintf("requested %s is shared under key %q but cannot be shared with this Service: %s", addr, l.key, why)}
		}
		return nil, failure{reason: AlreadyAllocated, msg: fmt.Sprintf("requested %s is already allocated to %s", addr, ownerNames(l))}
	}
	switch {
	case b.pool.Disabled:
		return nil, failure{reason: PoolDisabled, msg: fmt.Sprintf("requested %s is in pool %s, which is disabled", addr, b.pool.Name)}
	case !b.allocatable(addr) || b.free == nil || b.free.containing(addr) == nil:
		return nil, failure{reason: ReservedIP, msg: fmt.Sprintf("requested %s is reserved in pool %s (network/broadcast address or avoided .0/.255)", addr, b.pool.Name)}
	}
	return a.newLease(addr, b, st), failure{}
}

func (a *Allocator) acquireNew(st *svcState, s *model.Service, f model.Family) (*lease, failure) {
	var family, serving, enabled int
	for _, p := range a.pools {
		if !p.hasFamily(f) {
			continue
		}
		family++
		if s.Request.Pool != "" {
			if p.Name != s.Request.Pool {
				continue
			}
		} else if !p.AutoAssign {
			continue
		}
		if p.conflictsWith != "" || !p.Serves(s) {
			continue
		}
		serving++
		if p.Disabled {
			continue
		}
		enabled++
		for _, b := range p.blocks {
			if b.free == nil || b.Family() != f {
				continue
			}
			if addr, ok := b.free.first(b.allocatable); ok {
				return a.newLease(addr, b, st), failure{}
			}
		}
	}
	switch {
	case family == 0:
		return nil, failure{reason: NoPool, msg: fmt.Sprintf("no pool has %s addresses", f)}
	case serving == 0 && s.Request.Pool != "":
		return nil, failure{reason: PoolSelectorMismatch, msg: fmt.Sprintf("pool %s does not exist, has no %s addresses, or does not serve this Service", s.Request.Pool, f)}
	case serving == 0:
		return nil, failure{reason: PoolSelectorMismatch, msg: fmt.Sprintf("no %s pool selects this Service", f)}
	case enabled == 0:
		return nil, failure{reason: PoolDisabled, msg: fmt.Sprintf("every %s pool that selects this Service is disabled", f)}
	}
	return nil, failure{reason: OutOfIPs, msg: fmt.Sprintf("every %s pool that selects this Service is full", f)}
}

func ownerNames(l *lease) string {
	names := make([]string, len(l.owners))
	for i, o := range l.owners {
		names[i] = o.key.String()
	}
	return strings.Join(names, ", ")
}
