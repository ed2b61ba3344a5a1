package kube

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// LabelL2Node marks the per-node L2 Leases and names their node.
const LabelL2Node = "herald.io/l2-node"

// AnnotationL2Answering on a node's L2 Lease lists the addresses the node answers ARP/NDP
// for, as "ADDRESS@IFACE[+IFACE...]" separated by commas. The operator turns it into the
// Services' herald.io/L2Announced condition: the agent writes no Service, and the list is
// written with the Lease, so ownership costs an extra write only when it changes.
const AnnotationL2Answering = "herald.io/l2-answering"

// NodeLeaseConfig tunes the per-node Leases of L2 announcements.
type NodeLeaseConfig struct {
	Namespace string
	Node      string
	// Duration is how long a Lease counts after its last observed renewal.
	Duration time.Duration
	// Renew is how often this node renews its Lease and reads the others.
	Renew time.Duration
}

// DefaultNodeLeaseConfig renews every 5 s with a 15 s duration (Kubernetes' own node Lease
// timing scaled down). Failover does not wait for it: heartbeats detect a dead node in half a
// second; the Lease only decides for a node that hears nobody. One write per node every 5 s.
func DefaultNodeLeaseConfig(node string) NodeLeaseConfig {
	return NodeLeaseConfig{Namespace: "herald-system", Node: node, Duration: 15 * time.Second, Renew: 5 * time.Second}
}

// NodeLeases keeps this node's L2 Lease renewed and watches every node's: the API-side half of
// L2 liveness, which lets the election tell a dead node from a cut heartbeat path. API writes
// grow with nodes (one renewal per node per Renew), never with Services.
//
// A Lease counts as renewed while its resourceVersion changed less than Duration ago by this
// node's own clock, so clock skew between nodes does not matter (client-go's leader election
// does the same). When the API cannot be read, the last verdict stays: a node that loses the
// API keeps its view, and nothing flaps.
type NodeLeases struct {
	cfg NodeLeaseConfig
	cs  kubernetes.Interface
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	seen map[string]observed
	// verdict is the validity computed at the last successful read; a failed read keeps it.
	verdict  map[string]bool
	writes   int
	onChange func(map[string]bool)
	// answering is what this node answers for (the annotation); kick asks Run to write now.
	answering string
	kick      chan struct{}
}

type observed struct {
	version string
	at      time.Time
}

// NewNodeLeases returns the Lease keeper for cfg.Node; Run starts it. onChange, when set, is
// called with the validity of every node's Lease after each read.
func NewNodeLeases(cfg NodeLeaseConfig, cs kubernetes.Interface, log *slog.Logger, onChange func(map[string]bool)) *NodeLeases {
	return &NodeLeases{cfg: cfg, cs: cs, log: log, now: time.Now, seen: map[string]observed{}, onChange: onChange, kick: make(chan struct{}, 1)}
}

// SetAnswering records the addresses this node answers for; a change is written at once.
func (l *NodeLeases) SetAnswering(entries []string) {
	v := strings.Join(entries, ",")
	l.mu.Lock()
	changed := v != l.answering
	l.answering = v
	l.mu.Unlock()
	if changed {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// Run renews and reads every Renew until ctx ends.
func (l *NodeLeases) Run(ctx context.Context) error {
	t := time.NewTicker(l.cfg.Renew)
	defer t.Stop()
	for {
		if err := l.renew(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("L2 node Lease: renewing", "node", l.cfg.Node, "err", err)
		}
		if err := l.read(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("L2 node Lease: reading", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-l.kick:
		}
	}
}

func (l *NodeLeases) name() string { return "herald-l2-" + l.cfg.Node }

func (l *NodeLeases) renew(ctx context.Context) error {
	leases := l.cs.CoordinationV1().Leases(l.cfg.Namespace)
	now := metav1.NewMicroTime(l.now())
	l.mu.Lock()
	answering := l.answering
	l.mu.Unlock()
	cur, err := leases.Get(ctx, l.name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.name(), Namespace: l.cfg.Namespace, Labels: map[string]string{LabelL2Node: l.cfg.Node},
				Annotations: map[string]string{AnnotationL2Answering: answering}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(l.cfg.Node), LeaseDurationSeconds: ptr.To(int32(l.cfg.Duration / time.Second)),
				AcquireTime: &now, RenewTime: &now},
		}, metav1.CreateOptions{})
	} else if err == nil {
		cur.Spec.RenewTime = &now
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[AnnotationL2Answering] = answering
		_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("lease %s/%s: %w", l.cfg.Namespace, l.name(), err)
	}
	l.mu.Lock()
	l.writes++
	l.mu.Unlock()
	return nil
}

func (l *NodeLeases) read(ctx context.Context) error {
	list, err := l.cs.CoordinationV1().Leases(l.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelL2Node})
	if err != nil {
		return err // keep the last verdict
	}
	now := l.now()
	l.mu.Lock()
	present := map[string]bool{}
	for _, le := range list.Items {
		node := le.Labels[LabelL2Node]
		present[node] = true
		if o, ok := l.seen[node]; !ok || o.version != le.ResourceVersion {
			l.seen[node] = observed{version: le.ResourceVersion, at: now}
		}
	}
	for node := range l.seen {
		if !present[node] {
			delete(l.seen, node) // a deleted Lease: the node is gone
		}
	}
	valid := make(map[string]bool, len(l.seen))
	for node, o := range l.seen {
		valid[node] = now.Sub(o.at) < l.cfg.Duration
	}
	l.verdict = valid
	cb := l.onChange
	l.mu.Unlock()
	if cb != nil {
		cb(maps.Clone(valid))
	}
	return nil
}

// Valid returns, for every node with a Lease, whether it was being renewed at the last
// successful read of the API.
func (l *NodeLeases) Valid() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.verdict)
}

// Writes returns how many renewals this keeper wrote.
func (l *NodeLeases) Writes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}
