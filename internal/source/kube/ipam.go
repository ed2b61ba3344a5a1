// Package kube is cluster mode's edge: controllers that read Kubernetes objects through
// informers (controller-runtime), turn them into model types once (package translate and the
// API's Model methods), run the pure packages, and write results back to the API: Service
// status, conditions, pool status.
package kube

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"golang.org/x/sync/errgroup"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/announce"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
	"github.com/heraldlb/herald/internal/status"
	"github.com/heraldlb/herald/internal/translate"
)

// Condition types Herald writes.
const (
	// ConditionIPAMSatisfied is on each LoadBalancer Service: True with the address, or False
	// with the allocator's reason.
	ConditionIPAMSatisfied = "herald.io/IPAMRequestSatisfied"
	// ConditionIPsAvailable and ConditionPoolConflict are on pools.
	ConditionIPsAvailable = "herald.io/IPsAvailable"
	ConditionPoolConflict = "herald.io/PoolConflict"
)

// IPAM is the operator's LB-IPAM controller. Every change to Services, pools or namespaces
// triggers one reconcile of all of them: the allocator handles 50k Services in about 65 ms,
// and a whole-picture pass keeps adoption order and conflicts right without bookkeeping.
type IPAM struct {
	Client client.Client
	Log    *slog.Logger
	Config ipam.Config
	// Events records what changed for people running kubectl describe; nil records nothing.
	// Events are emitted only with a status write, so a resync that changes nothing (a
	// restart, a failover) emits nothing.
	Events events.EventRecorder
	// LeaseNamespace holds the agents' L2 node Leases, whose herald.io/l2-answering
	// annotation becomes each Service's herald.io/L2Announced condition; empty: not reported.
	LeaseNamespace string
	// BGPStatus plans every node with the allocations and writes which nodes advertise each
	// Service (herald.io/BGPAnnounced); it makes the controller watch the BGP configuration,
	// Nodes and EndpointSlices too.
	BGPStatus bool
	// Holder, when set, gets a snapshot of the pools and Services after every reconcile:
	// the operator's herald_ipam_* metrics read it.
	Holder *status.Holder

	mu         sync.Mutex
	pace       *pacer
	reconciles uint64
	alloc      *ipam.Allocator
	arrivals   arrivals
}

// arrivals numbers Services in the order the watch first delivers them, which is the order
// they were created in: creationTimestamp has a resolution of one second, and `kubectl apply`
// creates a whole file within one, so without it two Services asking for one shared address
// would be ordered by name rather than by who came first (seed 004: web-http and web-https
// share 10.100.0.50, web-dns-conflict, created last, is refused). Services already present
// when the operator starts come in the API's list order, which is by name (web-dns-conflict
// first), so they are numbered by noteListed instead, by creation time and revision; those
// with an address keep it by adoption anyway.
type arrivals struct {
	mu   sync.Mutex
	seq  map[types.UID]int
	next int
}

func (a *arrivals) note(o client.Object) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seq == nil {
		a.seq = map[types.UID]int{}
	}
	if _, ok := a.seq[o.GetUID()]; !ok {
		a.next++
		a.seq[o.GetUID()] = a.next
	}
	return true
}

// noteListed numbers the listed Services that have no number yet: those of the initial list
// (see arrivals), and those the cache holds before their create event has reached note.
// Unnumbered, a Service sorted before everything created in the same second, and seed
// 004's web-dns-conflict, created last, took the shared address from web-https in one lab
// run in five when the operator started while the manifests were being applied. They are
// numbered after every Service already seen, by creation time, then resourceVersion
// (etcd's revision at creation, for objects nobody has updated yet), then name.
func (a *arrivals) noteListed(items []corev1.Service) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seq == nil {
		a.seq = map[types.UID]int{}
	}
	var fresh []*corev1.Service
	for i := range items {
		if _, ok := a.seq[items[i].UID]; !ok {
			fresh = append(fresh, &items[i])
		}
	}
	slices.SortFunc(fresh, func(x, y *corev1.Service) int {
		if c := x.CreationTimestamp.Compare(y.CreationTimestamp.Time); c != 0 {
			return c
		}
		if c := compareRevisions(x.ResourceVersion, y.ResourceVersion); c != 0 {
			return c
		}
		return strings.Compare(x.Namespace+"/"+x.Name, y.Namespace+"/"+y.Name)
	})
	for _, s := range fresh {
		a.next++
		a.seq[s.UID] = a.next
	}
}

// compareRevisions orders resourceVersions as numbers where both are (etcd's are), else as
// strings: "9" comes before "12".
func compareRevisions(x, y string) int {
	xn, xerr := strconv.ParseUint(x, 10, 64)
	yn, yerr := strconv.ParseUint(y, 10, 64)
	if xerr == nil && yerr == nil {
		return cmp.Compare(xn, yn)
	}
	return strings.Compare(x, y)
}

func (a *arrivals) forget(o client.Object) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.seq, o.GetUID())
	return true
}

func (a *arrivals) of(uid types.UID) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq[uid]
}

// ConditionBGPAnnounced on a Service says which nodes advertise its addresses over BGP, by the
// plan every agent follows (True), or that none does any more (False).
const ConditionBGPAnnounced = "herald.io/BGPAnnounced"

// ConditionL2Announced on a Service says which node answers ARP/NDP for each of its
// addresses, on which interfaces (True), or that no node does any more (False).
const ConditionL2Announced = "herald.io/L2Announced"

// statusWriters is how many Service status writes the operator has in flight at once.
const statusWriters = 16

// allKey is the single work item: whatever changed, everything is reconciled.
var allKey = reconcile.Request{}

// enqueueAll maps every watched event to allKey.
var enqueueAll = handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
	return []reconcile.Request{allKey}
})

// SetupWithManager registers the controller and its watches.
func (r *IPAM) SetupWithManager(mgr ctrl.Manager) error {
	// At most a third of a core on full passes under a burst, and an idle operator answers at
	// once; the floor keeps a burst of small passes from writing status piecemeal.
	r.pace = newPacer(20*time.Millisecond, 3)
	b := ctrl.NewControllerManagedBy(mgr).Named("ipam").
		Watches(&corev1.Service{}, enqueueAll, builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(e event.CreateEvent) bool {
				if e.IsInInitialList {
					return true // list order is by name, not creation: noteListed numbers these
				}
				return r.arrivals.note(e.Object)
			},
			DeleteFunc:  func(e event.DeleteEvent) bool { return r.arrivals.forget(e.Object) },
			UpdateFunc:  func(event.UpdateEvent) bool { return true },
			GenericFunc: func(event.GenericEvent) bool { return true },
		})).
		Watches(&v1alpha1.LoadBalancerIPPool{}, enqueueAll).
		Watches(&corev1.Namespace{}, enqueueAll)
	if r.BGPStatus {
		for _, o := range []client.Object{&v1alpha1.BGPClusterConfig{}, &v1alpha1.BGPPeerConfig{}, &v1alpha1.BGPAdvertisement{},
			&v1alpha1.BGPNodeConfigOverride{}, &corev1.Node{}, &discoveryv1.EndpointSlice{}} {
			b = b.Watches(o, enqueueAll)
		}
	}
	if r.LeaseNamespace != "" {
		// Only a change of what a node answers for matters, not every renewal.
		b = b.Watches(&coordinationv1.Lease{}, enqueueAll, builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(e event.CreateEvent) bool { return r.isL2Lease(e.Object) },
			DeleteFunc: func(e event.DeleteEvent) bool { return r.isL2Lease(e.Object) },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return r.isL2Lease(e.ObjectNew) && e.ObjectOld.GetAnnotations()[AnnotationL2Answering] != e.ObjectNew.GetAnnotations()[AnnotationL2Answering]
			},
			GenericFunc: func(event.GenericEvent) bool { return false },
		}))
	}
	return b.Complete(r)
}

// Reconcile allocates for every Service and writes what changed.
func (r *IPAM) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	if r.pace != nil {
		if d := r.pace.wait(start); d > 0 {
			return reconcile.Result{RequeueAfter: d}, nil
		}
		defer func() { r.pace.done(start, time.Now()) }()
	}
	var svcList corev1.ServiceList
	// No copies of the cache's objects: every write below works on a DeepCopy.
	if err := r.Client.List(ctx, &svcList, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing Services: %w", err)
	}
	var poolList v1alpha1.LoadBalancerIPPoolList
	if err := r.Client.List(ctx, &poolList, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing pools: %w", err)
	}
	var nsList corev1.NamespaceList
	if err := r.Client.List(ctx, &nsList, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing namespaces: %w", err)
	}
	nsLabels := map[string]map[string]string{}
	for _, ns := range nsList.Items {
		nsLabels[ns.Name] = ns.Labels
	}
	var pools []model.Pool
	poolObjs := map[string]*v1alpha1.LoadBalancerIPPool{}
	for i := range poolList.Items {
		p := &poolList.Items[i]
		poolObjs[p.Name] = p
		mp, errs := p.Model()
		if len(errs) > 0 {
			// A broken pool allocates nothing new and says why; its existing leases are kept
			// off other owners by adoption.
			r.Log.Warn("invalid pool", "pool", p.Name, "err", errs.ToAggregate())
			if err := writeInvalidSpec(ctx, r.Client, r.Events, p, poolConditions, errs); err != nil {
				return reconcile.Result{}, err
			}
			continue
		}
		pools = append(pools, mp)
	}
	svcObjs := map[model.ServiceKey]*corev1.Service{}
	var svcs []model.Service
	r.arrivals.noteListed(svcList.Items)
	for i := range svcList.Items {
		s := &svcList.Items[i]
		ms, _ := translate.Service(s)
		ms.NamespaceLabels = nsLabels[ms.Key.Namespace]
		ms.Seq = r.arrivals.of(s.UID)
		svcObjs[ms.Key] = s
		svcs = append(svcs, ms)
	}
	if r.alloc == nil {
		r.alloc = ipam.New(r.Config)
	}
	// Reconcile adopts every address already in Service status before allocating anything:
	// after a restart (or a failover to the standby replica) nothing moves.
	results := r.alloc.Reconcile(pools, svcs)
	r.publish(results, start)
	answering, err := r.l2Answering(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	advertising, err := r.bgpAdvertisers(ctx, results)
	if err != nil {
		return reconcile.Result{}, err
	}
	// Each Service's status is its own write: after a burst (a thousand Services in one apply)
	// they go out side by side, not one round trip after another; the client's rate limit
	// (--kube-api-qps) still bounds the load on the API server.
	var (
		errs []error
		emu  sync.Mutex
		g    errgroup.Group
	)
	g.SetLimit(statusWriters)
	for _, res := range results {
		g.Go(func() error {
			if err := r.writeService(ctx, svcObjs[res.Service], res, answering, advertising); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, ps := range r.alloc.Pools() {
		if err := r.writePool(ctx, poolObjs[ps.Name], ps); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return reconcile.Result{}, fmt.Errorf("writing status: %v", errs)
	}
	if len(answering) > 0 {
		// A node that dies stops renewing its Lease without an event: look again later.
		return reconcile.Result{RequeueAfter: 30 * time.Second}, nil
	}
	return reconcile.Result{}, nil
}

// publish hands the allocation to the metrics: what every pool holds, every Service's result.
func (r *IPAM) publish(results []ipam.Result, start time.Time) {
	if r.Holder == nil {
		return
	}
	r.reconciles++
	r.Holder.Publish(&status.Snapshot{Generated: time.Now(), Mode: "operator", Pools: status.PoolsFrom(r.alloc.Pools()),
		Services: status.ServicesOf(results), Reconciles: r.reconciles, ReconcileDuration: time.Since(start)})
}

func (r *IPAM) isL2Lease(o client.Object) bool {
	_, ok := o.GetLabels()[LabelL2Node]
	return ok && o.GetNamespace() == r.LeaseNamespace
}

// l2Claim is one node saying it answers for an address.
type l2Claim struct {
	node, ifaces string
	renewed      time.Time
}

// l2Answering reads which node answers for which address from the L2 node Leases. During a
// handover, or after a node died without clearing its Lease, two nodes may claim an address:
// the most recently renewed claim wins (the dead node's Lease stops being renewed).
func (r *IPAM) l2Answering(ctx context.Context) (map[string]l2Claim, error) {
	out := map[string]l2Claim{}
	if r.LeaseNamespace == "" {
		return out, nil
	}
	var leases coordinationv1.LeaseList
	if err := r.Client.List(ctx, &leases, client.InNamespace(r.LeaseNamespace), client.HasLabels{LabelL2Node}); err != nil {
		return nil, fmt.Errorf("listing L2 Leases: %w", err)
	}
	for _, le := range leases.Items {
		var renewed time.Time
		if le.Spec.RenewTime != nil {
			renewed = le.Spec.RenewTime.Time
		}
		dur := 15 * time.Second
		if le.Spec.LeaseDurationSeconds != nil {
			dur = time.Duration(*le.Spec.LeaseDurationSeconds) * time.Second
		}
		if time.Since(renewed) > 2*dur {
			continue // a node gone for good (twice the duration: room for clock skew)
		}
		for _, e := range strings.Split(le.Annotations[AnnotationL2Answering], ",") {
			ip, ifaces, ok := strings.Cut(e, "@")
			if !ok {
				continue
			}
			if c, seen := out[ip]; !seen || renewed.After(c.renewed) {
				out[ip] = l2Claim{node: le.Labels[LabelL2Node], ifaces: strings.ReplaceAll(ifaces, "+", ","), renewed: renewed}
			}
		}
	}
	return out, nil
}

// l2Condition is the Service's L2Announced condition, or nil when no node answers for its
// addresses and none did before (the Service is not announced over L2).
func l2Condition(s *corev1.Service, addrs []netip.Addr, answering map[string]l2Claim) *metav1.Condition {
	var parts []string
	for _, a := range addrs {
		if c, ok := answering[a.String()]; ok {
			parts = append(parts, fmt.Sprintf("%s answered by %s on %s", a, c.node, c.ifaces))
		}
	}
	if len(parts) > 0 {
		return &metav1.Condition{Type: ConditionL2Announced, Status: metav1.ConditionTrue, Reason: "Answered", Message: strings.Join(parts, "; "), ObservedGeneration: s.Generation}
	}
	if meta.FindStatusCondition(s.Status.Conditions, ConditionL2Announced) == nil {
		return nil
	}
	return &metav1.Condition{Type: ConditionL2Announced, Status: metav1.ConditionFalse, Reason: "NotAnswered",
		Message: "no node answers ARP/NDP for the Service's addresses (see herald doctor on a node)", ObservedGeneration: s.Generation}
}

// bgpAdvertisers plans every node with the allocations just made (the same planner the agents
// run) and returns, per Service address, the nodes that advertise it, sorted.
func (r *IPAM) bgpAdvertisers(ctx context.Context, results []ipam.Result) (map[netip.Addr][]string, error) {
	out := map[netip.Addr][]string{}
	if !r.BGPStatus {
		return out, nil
	}
	c, _, err := ReadCluster(ctx, r.Client, ReadOptions{BGPConfigs: true})
	if err != nil {
		return nil, err
	}
	if len(c.ClusterConfigs) == 0 {
		return out, nil
	}
	p := plan.Compute(plan.Input{Cluster: c, Allocations: announce.Allocations(results)})
	for name, n := range p.Nodes {
		var prefixes []netip.Prefix
		for _, in := range n.Instances {
			for _, pe := range in.Peers {
				for _, f := range pe.Families {
					for _, rt := range f.Routes {
						prefixes = append(prefixes, rt.Prefix)
					}
				}
			}
		}
		for _, res := range results {
			for _, a := range res.Addrs {
				if slices.ContainsFunc(prefixes, func(pf netip.Prefix) bool { return pf.Contains(a) }) && !slices.Contains(out[a], name) {
					out[a] = append(out[a], name)
				}
			}
		}
	}
	for a := range out {
		slices.Sort(out[a])
	}
	return out, nil
}

// bgpCondition is the Service's BGPAnnounced condition, or nil when no node advertises its
// addresses and none did before.
func bgpCondition(s *corev1.Service, addrs []netip.Addr, advertising map[netip.Addr][]string) *metav1.Condition {
	var parts []string
	for _, a := range addrs {
		if nodes := advertising[a]; len(nodes) > 0 {
			parts = append(parts, fmt.Sprintf("%s advertised by %s", a, strings.Join(nodes, ", ")))
		}
	}
	if len(parts) > 0 {
		return &metav1.Condition{Type: ConditionBGPAnnounced, Status: metav1.ConditionTrue, Reason: "Advertised", Message: strings.Join(parts, "; "), ObservedGeneration: s.Generation}
	}
	if meta.FindStatusCondition(s.Status.Conditions, ConditionBGPAnnounced) == nil {
		return nil
	}
	return &metav1.Condition{Type: ConditionBGPAnnounced, Status: metav1.ConditionFalse, Reason: "NotAdvertised",
		Message: "no node advertises the Service's addresses (no advertisement selects it, or no node has a ready endpoint under externalTrafficPolicy Local)", ObservedGeneration: s.Generation}
}

// writeService updates status.loadBalancer.ingress and the conditions when they differ.
func (r *IPAM) writeService(ctx context.Context, s *corev1.Service, res ipam.Result, answering map[string]l2Claim, advertising map[netip.Addr][]string) error {
	if s == nil || res.Reason == ipam.NotOurs {
		return nil
	}
	want := s.DeepCopy()
	var ingress []corev1.LoadBalancerIngress
	for _, a := range res.Addrs {
		ingress = append(ingress, corev1.LoadBalancerIngress{IP: a.String(), IPMode: ptrTo(corev1.LoadBalancerIPModeVIP)})
	}
	// An unsatisfied Service that keeps an address (bad annotation) keeps publishing it.
	want.Status.LoadBalancer.Ingress = ingress
	cond := metav1.Condition{Type: ConditionIPAMSatisfied, Status: metav1.ConditionTrue, Reason: "Satisfied",
		Message: "address " + joinAddrs(res.Addrs) + " from pool " + strings.Join(slices.Compact(slices.Clone(res.Pools)), ","), ObservedGeneration: s.Generation}
	if !res.Satisfied {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, camel(string(res.Reason)), res.Message
	}
	meta.SetStatusCondition(&want.Status.Conditions, cond)
	if l2 := l2Condition(s, res.Addrs, answering); l2 != nil {
		meta.SetStatusCondition(&want.Status.Conditions, *l2)
	}
	if bc := bgpCondition(s, res.Addrs, advertising); bc != nil {
		meta.SetStatusCondition(&want.Status.Conditions, *bc)
	}
	if equalStatus(s.Status, want.Status) {
		return nil
	}
	// A merge patch does not depend on resourceVersion: the informer cache may not have seen
	// this controller's previous write yet, and only the leader writes these fields.
	if err := r.Client.Status().Patch(ctx, want, client.MergeFrom(s)); err != nil {
		return fmt.Errorf("Service %s/%s: %w", s.Namespace, s.Name, err)
	}
	r.serviceEvents(s, want, res)
	return nil
}

// serviceEvents says on the Service what the write just changed: an address given, changed
// or taken away, or the allocation newly failing.
func (r *IPAM) serviceEvents(old, cur *corev1.Service, res ipam.Result) {
	if r.Events == nil {
		return
	}
	was, is := ingressIPs(old.Status), ingressIPs(cur.Status)
	pools := strings.Join(slices.Compact(slices.Clone(res.Pools)), ",")
	switch {
	case was == "" && is != "":
		r.Events.Eventf(cur, nil, corev1.EventTypeNormal, "IPAllocated", "Allocate", "address %s from pool %s", is, pools)
	case was != "" && is == "":
		r.Events.Eventf(cur, nil, corev1.EventTypeWarning, "IPReleased", "Release", "address %s released: %s", was, res.Message)
	case was != is:
		r.Events.Eventf(cur, nil, corev1.EventTypeNormal, "IPChanged", "Allocate", "address %s (was %s) from pool %s", is, was, pools)
	}
	before := meta.FindStatusCondition(old.Status.Conditions, ConditionIPAMSatisfied)
	after := meta.FindStatusCondition(cur.Status.Conditions, ConditionIPAMSatisfied)
	if after != nil && after.Status == metav1.ConditionFalse && (before == nil || before.Status != after.Status || before.Reason != after.Reason) {
		r.Events.Eventf(cur, nil, corev1.EventTypeWarning, after.Reason, "Allocate", "no address: %s", after.Message)
	}
	bgpBefore := meta.FindStatusCondition(old.Status.Conditions, ConditionBGPAnnounced)
	bgpAfter := meta.FindStatusCondition(cur.Status.Conditions, ConditionBGPAnnounced)
	switch {
	case bgpAfter == nil || (bgpBefore != nil && bgpBefore.Status == bgpAfter.Status && bgpBefore.Message == bgpAfter.Message):
	case bgpAfter.Status == metav1.ConditionFalse:
		r.Events.Eventf(cur, nil, corev1.EventTypeWarning, "BGPWithdrawn", "Announce", "%s", bgpAfter.Message)
	case bgpBefore == nil || bgpBefore.Status != metav1.ConditionTrue:
		r.Events.Eventf(cur, nil, corev1.EventTypeNormal, "BGPAnnounced", "Announce", "%s", bgpAfter.Message)
	default:
		r.Events.Eventf(cur, nil, corev1.EventTypeNormal, "BGPAdvertisersChanged", "Announce", "%s (was: %s)", bgpAfter.Message, bgpBefore.Message)
	}
	l2Before := meta.FindStatusCondition(old.Status.Conditions, ConditionL2Announced)
	l2After := meta.FindStatusCondition(cur.Status.Conditions, ConditionL2Announced)
	switch {
	case l2After == nil || (l2Before != nil && l2Before.Status == l2After.Status && l2Before.Message == l2After.Message):
	case l2After.Status == metav1.ConditionFalse:
		r.Events.Eventf(cur, nil, corev1.EventTypeWarning, "L2NotAnswered", "Announce", "%s", l2After.Message)
	case l2Before == nil || l2Before.Status != metav1.ConditionTrue:
		r.Events.Eventf(cur, nil, corev1.EventTypeNormal, "L2Announced", "Announce", "%s", l2After.Message)
	default:
		r.Events.Eventf(cur, nil, corev1.EventTypeNormal, "L2Moved", "Announce", "%s (was: %s)", l2After.Message, l2Before.Message)
	}
}

func ingressIPs(st corev1.ServiceStatus) string {
	var ips []string
	for _, in := range st.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	return strings.Join(ips, ",")
}

func (r *IPAM) writePool(ctx context.Context, p *v1alpha1.LoadBalancerIPPool, ps ipam.PoolStatus) error {
	if p == nil {
		return nil
	}
	want := p.DeepCopy()
	meta.SetStatusCondition(&want.Status.Conditions, metav1.Condition{Type: ConditionIPsAvailable, Status: metav1.ConditionTrue, Reason: "Counted",
		Message: ps.Available.String(), ObservedGeneration: p.Generation})
	conflict := metav1.Condition{Type: ConditionPoolConflict, Status: metav1.ConditionFalse, Reason: "NoOverlap", Message: "no overlap with older pools", ObservedGeneration: p.Generation}
	if ps.ConflictsWith != "" {
		conflict.Status, conflict.Reason, conflict.Message = metav1.ConditionTrue, "OverlapsOlderPool",
			"its blocks overlap pool "+ps.ConflictsWith+"; it allocates nothing until the overlap is gone"
	}
	meta.SetStatusCondition(&want.Status.Conditions, conflict)
	meta.SetStatusCondition(&want.Status.Conditions, metav1.Condition{Type: "herald.io/Counts", Status: metav1.ConditionTrue, Reason: "Counted",
		Message: fmt.Sprintf("total %s, used %d, available %s", ps.Total, ps.Used, ps.Available), ObservedGeneration: p.Generation})
	meta.SetStatusCondition(&want.Status.Conditions, invalidSpecCondition(p.Generation, nil))
	if equalConditions(p.Status.Conditions, want.Status.Conditions) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, want, client.MergeFrom(p)); err != nil {
		return fmt.Errorf("pool %s: %w", p.Name, err)
	}
	problemEvents(r.Events, want, p.Status.Conditions, want.Status.Conditions, ConditionPoolConflict, ConditionInvalidSpec)
	return nil
}

func equalStatus(a, b corev1.ServiceStatus) bool {
	if len(a.LoadBalancer.Ingress) != len(b.LoadBalancer.Ingress) {
		return false
	}
	for i := range a.LoadBalancer.Ingress {
		if a.LoadBalancer.Ingress[i].IP != b.LoadBalancer.Ingress[i].IP {
			return false
		}
	}
	return equalConditions(a.Conditions, b.Conditions)
}

// equalConditions compares what a reader sees; LastTransitionTime only moves with Status.
func equalConditions(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range a {
		o := meta.FindStatusCondition(b, c.Type)
		if o == nil || o.Status != c.Status || o.Reason != c.Reason || o.Message != c.Message || o.ObservedGeneration != c.ObservedGeneration {
			return false
		}
	}
	return true
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// camel turns the allocator's snake_case reasons into condition reasons (CamelCase).
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func ptrTo[T any](v T) *T { return &v }

func poolConditions(p *v1alpha1.LoadBalancerIPPool) *[]metav1.Condition { return &p.Status.Conditions }
