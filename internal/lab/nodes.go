package lab

import (
	"context"
	"fmt"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/internal/netns"
)

// The failures and maintenance a network engineer wants to watch: each is what happens to a
// real node, done to a lab node.

// node returns the node host with that name.
func (l *Lab) node(name string) (Host, error) {
	h, ok := l.state.Spec.Host(name)
	if !ok || h.Kind != Node {
		var names []string
		for _, n := range l.state.Spec.hosts(Node) {
			names = append(names, n.Name)
		}
		return Host{}, fmt.Errorf("no node %q in lab %s (nodes: %v)", name, l.state.Spec.Name, names)
	}
	return h, nil
}

// KillNode makes a node die as hardware does: its agent and backend are killed (SIGKILL, no
// goodbye to anyone) and every link goes down at the same instant.
func (l *Lab) KillNode(name string) error {
	h, err := l.node(name)
	if err != nil {
		return err
	}
	l.sayf("killing %s: agent and backend SIGKILLed, links down", name)
	if err := l.setLinks(h, "down"); err != nil {
		return err
	}
	for _, proc := range []string{agentName(name), backendName(name)} {
		if p, ok := l.Proc(proc); ok {
			if err := p.Stop(syscall.SIGKILL, time.Second); err != nil {
				return err
			}
			p.Stopped = true
			if err := l.record(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// setLinks sets every link of a node, the management one too, up or down.
func (l *Lab) setLinks(h Host, state string) error {
	for _, link := range append(h.Links, Link{Name: mgmtIf}) {
		if _, err := netns.Exec(l.NS(h.Name), "ip", "link", "set", link.Name, state); err != nil {
			return err
		}
	}
	return nil
}

// ReviveNode brings a killed node back: links up, backend and agent started.
func (l *Lab) ReviveNode(name string) error {
	h, err := l.node(name)
	if err != nil {
		return err
	}
	l.sayf("reviving %s", name)
	if err := l.setLinks(h, "up"); err != nil {
		return err
	}
	// The kernel dropped the default route with the link.
	if h.Gateway != "" {
		if _, err := netns.Exec(l.NS(name), "ip", "route", "replace", "default", "via", h.Gateway); err != nil {
			return err
		}
	}
	if p, ok := l.Proc(backendName(name)); ok && !p.Alive() {
		if _, err := l.start(p.Name, p.Host, p.Args...); err != nil {
			return err
		}
	}
	if p, ok := l.Proc(agentName(name)); ok && p.Alive() {
		return nil
	}
	return l.StartAgent(name)
}

// RestartAgent stops a node's agent as Kubernetes stops a pod (SIGTERM) and starts it again:
// with graceful restart the router keeps the node's routes meanwhile.
func (l *Lab) RestartAgent(name string) error {
	if _, err := l.node(name); err != nil {
		return err
	}
	l.sayf("restarting the agent on %s (SIGTERM, then start)", name)
	if err := l.StopAgent(name, syscall.SIGTERM); err != nil {
		return err
	}
	return l.StartAgent(name)
}

// Cordon sets or clears a node's spec.unschedulable, as `kubectl cordon` does. The lab's
// agents run with --drain-when-cordoned: a cordoned node re-advertises its routes with
// GRACEFUL_SHUTDOWN so routers move traffic away while its sessions stay up.
func (l *Lab) Cordon(ctx context.Context, name string, cordoned bool) error {
	if _, err := l.node(name); err != nil {
		return err
	}
	c, err := l.Client()
	if err != nil {
		return err
	}
	var n corev1.Node
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
		return err
	}
	patch := client.MergeFrom(n.DeepCopy())
	n.Spec.Unschedulable = cordoned
	verb := map[bool]string{true: "cordoning", false: "uncordoning"}[cordoned]
	l.sayf("%s %s", verb, name)
	return c.Patch(ctx, &n, patch)
}
