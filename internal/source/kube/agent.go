package kube

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/announce"
	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/bgp/gobgp"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/l2"
	"github.com/heraldlb/herald/internal/metrics"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/status"
)

// AgentConfig is `herald agent`'s settings.
type AgentConfig struct {
	// Node is the node this agent runs on (NODE_NAME from the downward API).
	Node string
	// Namespace holds the MD5 Secrets and the L2 node Leases (herald-system).
	Namespace string
	// StateDir holds the status socket that `herald bgp ...`, `herald l2 ...` and `herald
	// status` read on the node; StatusAddr optionally serves it on TCP too.
	StateDir   string
	StatusAddr string
	Announce   announce.Config
	Leases     NodeLeaseConfig
	// StatusInterval bounds how often the agent writes peer status into its BGPNodeConfig;
	// nothing is written while nothing changed.
	StatusInterval time.Duration
	QPS            float32
	Burst          int
}

// DefaultAgentConfig writes session state at most every 5 s: a session flapping every second
// costs the API one write per 5 s per node, while the local status API stays live.
func DefaultAgentConfig(node string) AgentConfig {
	return AgentConfig{Node: node, Namespace: "herald-system", Announce: announce.DefaultConfig(), Leases: DefaultNodeLeaseConfig(node),
		StatusInterval: 5 * time.Second, QPS: 20, Burst: 40}
}

// agent is the reconciler behind RunAgent: every change rebuilds the cluster from the cache
// and hands it to the node announcer, like one reconcile of `herald run`.
type agent struct {
	cfg    AgentConfig
	client client.Client
	log    *slog.Logger
	node   *announce.Node
	holder *status.Holder
	runCtx context.Context

	mu         sync.Mutex
	pace       *pacer
	reconciles uint64
	last       *status.Snapshot
	leases     *NodeLeases
	written    []v1alpha1.BGPInstanceStatus
	writtenAt  time.Time
}

// RunAgent runs the node agent until ctx ends: it watches the objects that decide what this
// node announces, runs the BGP speakers and the L2 responder (the same code as `herald run`),
// keeps the node's L2 Lease, reports session state in the node's BGPNodeConfig, and serves
// the local status API. It writes nothing else: Services belong to the operator.
func RunAgent(ctx context.Context, cfg *rest.Config, ac AgentConfig, logger *slog.Logger) error {
	if ac.Node == "" {
		return fmt.Errorf("agent: no node name (set --node, or NODE_NAME from the downward API)")
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = ac.QPS, ac.Burst
	log.SetLogger(logrFrom(logger.With("component", "controller-runtime")))
	scheme, err := Scheme()
	if err == nil {
		err = discoveryv1.AddToScheme(scheme)
	}
	if err != nil {
		return err
	}
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skip},
		// Secrets only from Herald's namespace: the agent may read nothing else's.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{ac.Namespace: {}}},
		}, DefaultTransform: slimForCache},
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	restarting := false // a crashed agent restarts in a new pod: graceful restart is the router's
	sc := gobgp.DefaultConfig()
	sc.Restarting = restarting
	an := ac.Announce
	an.Node = ac.Node
	// Full passes at most a third of a core under a burst of Service events (see pacer).
	a := &agent{cfg: ac, client: mgr.GetClient(), log: logger, holder: status.NewHolder(), runCtx: ctx, pace: newPacer(50*time.Millisecond, 3)}
	a.node = announce.New(an, gobgp.New(sc, logger.With("component", "bgp")), logger)
	defer a.node.Close()
	// Every goroutine started here ends with actx and is waited for before the node closes.
	var wg sync.WaitGroup
	defer wg.Wait()
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.node.OnL2Start(func(l *l2.Announcer) {
		// The Leases start with L2: a node that announces nothing on L2 writes nothing.
		nl := NewNodeLeases(ac.Leases, cs, logger.With("component", "l2-lease"), l.SetLeases)
		l.OnOwned(func(owned []l2.Owned) {
			entries := make([]string, 0, len(owned))
			for _, o := range owned {
				entries = append(entries, o.Addr.String()+"@"+strings.Join(o.Interfaces, "+"))
			}
			nl.SetAnswering(entries)
		})
		a.mu.Lock()
		a.leases = nl
		a.mu.Unlock()
		wg.Go(func() { _ = nl.Run(actx) })
	})
	b := ctrl.NewControllerManagedBy(mgr).Named("agent")
	for _, o := range []client.Object{&corev1.Service{}, &corev1.Node{}, &corev1.Namespace{}, &corev1.Secret{}, &discoveryv1.EndpointSlice{},
		&v1alpha1.LoadBalancerIPPool{}, &v1alpha1.BGPPeerConfig{}, &v1alpha1.BGPAdvertisement{},
		&v1alpha1.BGPNodeConfig{}, &v1alpha1.L2AnnouncementPolicy{}} {
		b = b.Watches(o, enqueueAll)
	}
	if err := b.Complete(a); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	srv := &status.Server{Holder: a.holder, Log: logger, Metrics: metrics.Handler(a.holder, ctrlmetrics.Registry), Routes: a.node.Routes}
	errc := make(chan error, 3)
	sctx, cancel := context.WithCancel(actx)
	defer cancel()
	servers := 0
	if ac.StateDir != "" {
		servers++
		go func() { errc <- srv.ServeUnix(sctx, filepath.Join(ac.StateDir, status.SocketName)) }()
	}
	if ac.StatusAddr != "" {
		servers++
		go func() { errc <- srv.ServeTCP(sctx, ac.StatusAddr) }()
	}
	wg.Go(func() { a.refreshLoop(sctx) })
	err = mgr.Start(sctx)
	cancel()
	for range servers {
		if e := <-errc; e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Reconcile rebuilds the cluster from the cache and applies it to this node.
func (a *agent) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	if d := a.pace.wait(start); d > 0 {
		return reconcile.Result{RequeueAfter: d}, nil
	}
	defer func() { a.pace.done(start, time.Now()) }()
	c, results, problems, err := a.cluster(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	snap := &status.Snapshot{Generated: time.Now(), Mode: "cluster", Node: a.cfg.Node, Problems: problems}
	snap.Services = status.ServicesOf(results)
	a.node.Apply(ctx, a.runCtx, c, announce.Allocations(results), snap)
	a.mu.Lock()
	a.reconciles++
	snap.Reconciles, snap.ReconcileDuration = a.reconciles, time.Since(start)
	snap.ReconcileErrors = a.node.Failed()
	a.last = snap
	a.mu.Unlock()
	a.holder.Publish(snap)
	a.writePeerStatus(ctx, snap.BGP, false)
	return reconcile.Result{}, nil
}

// cluster reads every object the node's announcements depend on, as model types, with the
// node's BGP configuration taken from its BGPNodeConfig (what the operator resolved: cluster
// config chosen, conflicts settled, override merged; no BGPNodeConfig, no sessions).
func (a *agent) cluster(ctx context.Context) (*model.Cluster, []ipam.Result, []status.Problem, error) {
	c, invalid, err := ReadCluster(ctx, a.client, ReadOptions{SecretsNamespace: a.cfg.Namespace})
	if err != nil {
		return nil, nil, nil, err
	}
	var probls []status.Problem
	for _, iv := range invalid {
		probls = append(probls, status.Problem{Severity: "error", Source: "api", Object: iv.Object, Field: iv.Field, Message: iv.Message + " (ignored until fixed)"})
	}
	var nc v1alpha1.BGPNodeConfig
	switch err := a.client.Get(ctx, client.ObjectKey{Name: a.cfg.Node}, &nc); {
	case err == nil:
		if err := nodeConfigModel(c, a.cfg.Node, &nc); err != nil {
			probls = append(probls, status.Problem{Severity: "error", Source: "api", Object: "BGPNodeConfig " + nc.Name, Message: err.Error()})
		}
	case !apierrors.IsNotFound(err):
		return nil, nil, nil, fmt.Errorf("reading BGPNodeConfig %s: %w", a.cfg.Node, err)
	}
	return c, Adopted(c), probls, nil
}

// labelSelf marks this node in the agent's model only, so that the cluster config made from
// its BGPNodeConfig selects it and nothing else.
const labelSelf = "herald.io/agent-self"

// nodeConfigModel turns this node's BGPNodeConfig into a cluster config selecting only this
// node, plus the override carrying the resolved router ID, port and local addresses, so the
// planner derives the same instances and peers the operator resolved.
func nodeConfigModel(c *model.Cluster, node string, nc *v1alpha1.BGPNodeConfig) error {
	cc := model.BGPClusterConfig{Name: "BGPNodeConfig/" + node, NodeSelector: &model.Selector{MatchLabels: map[string]string{labelSelf: "true"}}}
	ov := model.BGPNodeOverride{Node: node}
	for i, in := range nc.Spec.BGPInstances {
		mi := model.BGPInstance{Name: in.Name}
		io := model.BGPInstanceOverride{Name: in.Name}
		if in.LocalASN != nil {
			mi.LocalASN = uint32(*in.LocalASN)
		}
		if in.LocalPort != nil {
			mi.LocalPort = uint16(*in.LocalPort)
		}
		if in.RouterID != nil {
			a, err := netip.ParseAddr(*in.RouterID)
			if err != nil {
				return fmt.Errorf("spec.bgpInstances[%d].routerID: %w", i, err)
			}
			io.RouterID = a
		}
		for j, p := range in.Peers {
			mp := model.BGPPeer{Name: p.Name}
			if p.PeerAddress != nil {
				a, err := netip.ParseAddr(*p.PeerAddress)
				if err != nil {
					return fmt.Errorf("spec.bgpInstances[%d].peers[%d].peerAddress: %w", i, j, err)
				}
				mp.Address = a
			}
			if p.PeerASN != nil {
				mp.ASN = uint32(*p.PeerASN)
			}
			if p.PeerConfigRef != nil {
				mp.PeerConfigRef = p.PeerConfigRef.Name
			}
			if p.LocalAddress != nil {
				a, err := netip.ParseAddr(*p.LocalAddress)
				if err != nil {
					return fmt.Errorf("spec.bgpInstances[%d].peers[%d].localAddress: %w", i, j, err)
				}
				io.Peers = append(io.Peers, model.BGPPeerOverride{Name: p.Name, LocalAddress: a})
			}
			mi.Peers = append(mi.Peers, mp)
		}
		cc.Instances = append(cc.Instances, mi)
		ov.Instances = append(ov.Instances, io)
	}
	for i := range c.Nodes {
		if c.Nodes[i].Name == node {
			labels := maps.Clone(c.Nodes[i].Labels)
			if labels == nil {
				labels = map[string]string{}
			}
			labels[labelSelf] = "true"
			c.Nodes[i].Labels = labels
		}
	}
	c.ClusterConfigs = []model.BGPClusterConfig{cc}
	c.NodeOverrides = []model.BGPNodeOverride{ov}
	return nil
}

// refreshLoop republishes the snapshot with fresh session and L2 state twice a second and on
// every L2 owner change, and writes session state when it changed.
func (a *agent) refreshLoop(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.node.Changed():
		}
		a.mu.Lock()
		last := a.last
		a.mu.Unlock()
		if last == nil {
			continue
		}
		next := *last
		if !a.node.Refresh(ctx, &next) {
			continue
		}
		next.Generated = time.Now()
		a.mu.Lock()
		a.last = &next
		a.mu.Unlock()
		a.holder.Publish(&next)
		a.writePeerStatus(ctx, next.BGP, false)
	}
}

// writePeerStatus writes the sessions into this node's BGPNodeConfig status, when they changed
// and at most every StatusInterval. Uptimes are written as the time the session came up, so
// an established session does not change every second.
func (a *agent) writePeerStatus(ctx context.Context, st []bgp.InstanceStatus, force bool) {
	want := nodeConfigStatus(st)
	a.mu.Lock()
	same := equality.Semantic.DeepEqual(want, a.written)
	soon := time.Since(a.writtenAt) < a.cfg.StatusInterval
	a.mu.Unlock()
	if same || (soon && !force) {
		return
	}
	var nc v1alpha1.BGPNodeConfig
	if err := a.client.Get(ctx, client.ObjectKey{Name: a.cfg.Node}, &nc); err != nil {
		return // no BGPNodeConfig for this node (no cluster config selects it): nothing to report into
	}
	patch := nc.DeepCopy()
	patch.Status.BGPInstances = want
	if err := a.client.Status().Patch(ctx, patch, client.MergeFrom(&nc)); err != nil {
		a.log.Warn("writing session state into BGPNodeConfig", "node", a.cfg.Node, "err", err)
		return
	}
	a.mu.Lock()
	a.written, a.writtenAt = want, time.Now()
	a.mu.Unlock()
}

func nodeConfigStatus(st []bgp.InstanceStatus) []v1alpha1.BGPInstanceStatus {
	out := []v1alpha1.BGPInstanceStatus{}
	for _, in := range st {
		is := v1alpha1.BGPInstanceStatus{Name: in.Name, LocalASN: ptrTo(int64(in.LocalASN))}
		for _, p := range in.Peers {
			ps := v1alpha1.BGPPeerStatus{Name: p.Name, PeerAddress: p.Address, PeerASN: ptrTo(int64(p.ASN)), PeeringState: string(p.State)}
			if !p.Since.IsZero() {
				ps.EstablishedTime = ptrTo(p.Since.UTC().Format(time.RFC3339))
			}
			if p.AppliedHold > 0 {
				ps.Timers = &v1alpha1.BGPAppliedTimers{AppliedHoldTimeSeconds: ptrTo(int32(p.AppliedHold / time.Second)), AppliedKeepaliveSeconds: ptrTo(int32(p.AppliedKeepalive / time.Second))}
			}
			for _, f := range p.Families {
				ps.RouteCount = append(ps.RouteCount, v1alpha1.BGPFamilyRouteCount{AFI: f.AFI, SAFI: f.SAFI, Advertised: ptrTo(int32(f.Advertised)), Received: ptrTo(int32(f.Received))})
			}
			is.Peers = append(is.Peers, ps)
		}
		out = append(out, is)
	}
	return out
}
