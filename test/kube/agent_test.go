package kube

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/manifest"
	herald "github.com/heraldlb/herald/internal/source/kube"
	"github.com/heraldlb/herald/internal/status"
	"github.com/heraldlb/herald/test/netlab"
)

// agentObjects: three nodes peering with one router; a BGP Service advertised by every node,
// an L2 Service answered by one. Labels keep other tests' nodes and Services out.
const agentObjects = `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: agent-bgp}
spec:
  blocks: [{cidr: 10.91.0.0/24}]
  serviceSelector: {matchLabels: {herald-test/agent: bgp}}
---
apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: agent-lan}
spec:
  blocks: [{cidr: 10.90.0.200/29}]
  serviceSelector: {matchLabels: {herald-test/agent: l2}}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: agent-test}
spec:
  nodeSelector: {matchLabels: {herald-test/agent: "yes"}}
  bgpInstances:
  - name: lan
    localASN: 65001
    peers: [{name: router, peerAddress: 10.90.0.1, peerASN: 65000, peerConfigRef: {name: agent-test}}]
---
apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: agent-test}
spec:
  timers: {connectRetryTimeSeconds: 1, holdTimeSeconds: 9, keepAliveTimeSeconds: 3}
  families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: {herald-test/agent: "yes"}}}]
---
apiVersion: herald.io/v1alpha1
kind: BGPAdvertisement
metadata: {name: agent-test, labels: {herald-test/agent: "yes"}}
spec:
  advertisements:
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector: {matchLabels: {herald-test/agent: bgp}}
---
apiVersion: herald.io/v1alpha1
kind: L2AnnouncementPolicy
metadata: {name: agent-test}
spec:
  loadBalancerIPs: true
  interfaces: ["^eth0$"]
  serviceSelector: {matchLabels: {herald-test/agent: l2}}
  nodeSelector: {matchLabels: {herald-test/agent: "yes"}}
---
apiVersion: v1
kind: Service
metadata: {name: agent-web, namespace: default, labels: {herald-test/agent: bgp}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}], allocateLoadBalancerNodePorts: false}
---
apiVersion: v1
kind: Service
metadata: {name: agent-lan, namespace: default, labels: {herald-test/agent: l2}, annotations: {herald.io/ips: 10.90.0.200}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}], allocateLoadBalancerNodePorts: false}
`

const agentRouter = `frr defaults traditional
log stdout
router bgp 65000
 bgp router-id 10.90.0.1
 no bgp ebgp-requires-policy
 neighbor 10.90.0.11 remote-as 65001
 neighbor 10.90.0.12 remote-as 65001
 neighbor 10.90.0.13 remote-as 65001
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
`

// createObjects creates every object in the YAML documents (Nodes with their status), and
// deletes them when the test ends.
func createObjects(t *testing.T, docs string) {
	t.Helper()
	set := manifest.Decode("objects.yaml", []byte(docs))
	ctx := context.Background()
	for _, o := range manifest.Herald(set).Objects {
		obj, ok := o.Obj.(client.Object)
		if !ok {
			t.Fatalf("%s %s is not an API object", o.Kind, o.Name)
		}
		var status corev1.NodeStatus
		if n, isNode := obj.(*corev1.Node); isNode {
			status = n.Status
		}
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s %s: %v", o.Kind, o.Name, err)
		}
		if n, isNode := obj.(*corev1.Node); isNode {
			n.Status = status
			if err := cl.Status().Update(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { _ = cl.Delete(context.Background(), obj) })
	}
}

// TestAgentsInNetworkNamespaces: three `herald agent` processes, each in its node's network
// namespace and reaching the real API server only through a forwarded loopback port, peer
// with an FRR router. The router gets the BGP Service from all three (ECMP), exactly one node
// answers ARP for the L2 Service, each agent writes its sessions into its BGPNodeConfig
// status and keeps its L2 Lease, and none of them writes a Service.
func TestAgentsInNetworkNamespaces(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("router")
	l.Bridge("router", "br0", "10.90.0.1/24")
	l.AddNS("client")
	l.Attach("client", "eth0", "router", "br0", "10.90.0.100/24")
	router := l.StartFRR("router", agentRouter, "")

	ensureNamespace(t, "herald-system")
	nodes := ""
	for i := 1; i <= 3; i++ {
		nodes += fmt.Sprintf("---\napiVersion: v1\nkind: Node\nmetadata: {name: agent-node%d, labels: {herald-test/agent: \"yes\"}}\nstatus: {addresses: [{type: InternalIP, address: 10.90.0.1%d}]}\n", i, i)
	}
	createObjects(t, agentObjects+nodes)
	oc := herald.DefaultOperatorConfig()
	oc.LeaderElectionNamespace, oc.MetricsAddr, oc.SkipNameValidation = "", "", true
	startOperator(t, oc)

	// Agents reach the API server at 127.0.0.1:6443 inside their namespace.
	u, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	api := u.Host
	kubeconfig := regexp.MustCompile(`server: \S+`).ReplaceAllString(string(kubeconfigBytes), "server: https://127.0.0.1:6443")
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcPath, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := netlab.HeraldBinary(t)
	states := map[string]string{}
	agents := map[string]*exec.Cmd{}
	for i := 1; i <= 3; i++ {
		ns, name := fmt.Sprintf("node%d", i), fmt.Sprintf("agent-node%d", i)
		l.AddNS(ns)
		l.Exec(ns, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
		l.Attach(ns, "eth0", "router", "br0", fmt.Sprintf("10.90.0.1%d/24", i))
		l.ForwardTCP(ns, "127.0.0.1:6443", api)
		states[name] = filepath.Join(l.Dir(), "state-"+name)
		agents[name] = l.Start(ns, "agent-"+name, bin, "agent", "--node", name, "--kubeconfig", kcPath, "--state", states[name], "--status-interval", "1s")
	}

	var web corev1.Service
	l.WaitFor("the operator to give agent-web an address", 30*time.Second, func() string {
		if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "agent-web"}, &web); err != nil {
			return err.Error()
		}
		if len(web.Status.LoadBalancer.Ingress) == 0 {
			return "no address yet"
		}
		return ""
	})
	prefix := web.Status.LoadBalancer.Ingress[0].IP // `ip -j route` names host routes without /32
	l.WaitFor(prefix+"/32 in the router's kernel through all three nodes", 60*time.Second, func() string {
		routes, err := router.KernelRoutes()
		if err != nil {
			return err.Error()
		}
		hops := routes[prefix].NextHops()
		slices.Sort(hops)
		if !slices.Equal(hops, []string{"10.90.0.11", "10.90.0.12", "10.90.0.13"}) {
			sum, _ := router.Vtysh("show bgp summary")
			return fmt.Sprintf("next hops %v\n%s\n%s", hops, sum, l.Log("agent-agent-node1"))
		}
		return ""
	})

	// The operator says on the Service which nodes advertise it.
	l.WaitFor("the BGPAnnounced condition on agent-web", 20*time.Second, func() string {
		var s corev1.Service
		if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "agent-web"}, &s); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(s.Status.Conditions, herald.ConditionBGPAnnounced)
		if c == nil || c.Status != "True" || c.Message != prefix+" advertised by agent-node1, agent-node2, agent-node3" {
			return condString(c)
		}
		return ""
	})
	if ev := eventsAbout(t, "default", "Service", "agent-web"); !slices.Contains(ev, "BGPAnnounced") {
		t.Errorf("events on agent-web: %v, want BGPAnnounced", ev)
	}

	// One MAC answers for the L2 address, and every agent names the same owner.
	var owner string
	l.WaitFor("one owner of 10.90.0.200 in every agent's view", 30*time.Second, func() string {
		owners := map[string]bool{}
		for name, st := range states {
			out, err := cliAt(bin, st, "l2", "announcements", "-o", "json")
			if err != nil {
				return name + ": " + out
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, `"owner"`) {
					o := strings.Trim(strings.TrimSpace(strings.SplitN(line, ":", 2)[1]), `",`)
					owners[o] = true
					owner = o
				}
			}
		}
		if len(owners) != 1 || owner == "" {
			return fmt.Sprintf("owners %v", owners)
		}
		return ""
	})
	ownerNS := "node" + strings.TrimPrefix(owner, "agent-node")
	l.WaitFor("arping 10.90.0.200: only "+owner, 10*time.Second, func() string {
		if got := l.Arping("client", "eth0", "10.90.0.200", 2); !slices.Equal(got, []string{l.MAC(ownerNS, "eth0")}) {
			return "MACs " + strings.Join(got, ",")
		}
		return ""
	})

	// Session state in the BGPNodeConfig, and one L2 Lease per node.
	l.WaitFor("established sessions in every BGPNodeConfig", 20*time.Second, func() string {
		for i := 1; i <= 3; i++ {
			var nc v1alpha1.BGPNodeConfig
			if err := cl.Get(context.Background(), client.ObjectKey{Name: fmt.Sprintf("agent-node%d", i)}, &nc); err != nil {
				return err.Error()
			}
			st := nc.Status.BGPInstances
			if len(st) != 1 || len(st[0].Peers) != 1 || st[0].Peers[0].PeeringState != "established" {
				return fmt.Sprintf("agent-node%d: %+v", i, st)
			}
		}
		return ""
	})
	for i := 1; i <= 3; i++ {
		var le coordinationv1.Lease
		if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "herald-system", Name: fmt.Sprintf("herald-l2-agent-node%d", i)}, &le); err != nil {
			t.Errorf("L2 Lease of agent-node%d: %v", i, err)
		}
	}
	if out, err := cliAt(bin, states["agent-node1"], "bgp", "peers"); err != nil || !strings.Contains(out, "established") {
		t.Errorf("herald bgp peers on agent-node1: %v\n%s", err, out)
	}
	// The agent's metrics: Herald's series for its node, and its API requests by verb.
	resp, err := status.SocketClient(filepath.Join(states["agent-node1"], status.SocketName)).Get("http://herald/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`herald_bgp_session_state{instance="lan",peer="10.90.0.1",state="established"} 1`, "herald_reconciles_total ",
		"herald_l2_owned_addresses{", `rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("agent metrics lack %q", want)
		}
	}

	// Every node's sessions through the API, from the BGPNodeConfig statuses.
	out, err := execCommand(bin, "bgp", "peers", "--all-nodes", "--kubeconfig", writeKubeconfig(t))
	for i := 1; i <= 3; i++ {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^agent-node%d +65001 +65000 +10\.90\.0\.1 +established .* ipv4/unicast +[0-9]+ +1$`, i)).MatchString(out) {
			t.Errorf("herald bgp peers --all-nodes lacks agent-node%d established advertising 1: %v\n%s", i, err, out)
		}
	}
	// The owner is on the Service (written by the operator from the owner's Lease), and moves
	// with an event when the owner dies.
	l2cond := func() string {
		var s corev1.Service
		if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "agent-lan"}, &s); err != nil {
			return err.Error()
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, herald.ConditionL2Announced); c != nil {
			return string(c.Status) + " " + c.Message
		}
		return "no L2Announced condition"
	}
	l.WaitFor("the L2Announced condition naming "+owner, 20*time.Second, func() string {
		if c := l2cond(); c != "True 10.90.0.200 answered by "+owner+" on eth0" {
			return c
		}
		return ""
	})
	l.Kill(agents[owner], syscall.SIGKILL)
	l.WaitFor("the L2Announced condition naming another node", 20*time.Second, func() string {
		if c := l2cond(); !strings.HasPrefix(c, "True 10.90.0.200 answered by agent-node") || strings.Contains(c, owner+" ") {
			return c
		}
		return ""
	})
	// The client's ARP now finds the new owner, and only it.
	next := strings.Fields(strings.TrimPrefix(l2cond(), "True 10.90.0.200 answered by "))[0]
	nextNS := "node" + strings.TrimPrefix(next, "agent-node")
	l.WaitFor("arping 10.90.0.200: only "+next+" after "+owner+"'s agent died", 10*time.Second, func() string {
		if got := l.WhoHas("client", "eth0", "10.90.0.200", 300*time.Millisecond); !slices.Equal(got, []string{l.MAC(nextNS, "eth0")}) {
			return "MACs " + strings.Join(got, ",")
		}
		return ""
	})
	if ev := eventsAbout(t, "default", "Service", "agent-lan"); !slices.Contains(ev, "L2Announced") || !slices.Contains(ev, "L2Moved") {
		t.Errorf("events on agent-lan: %v, want L2Announced and L2Moved", ev)
	}

	// The agents (field manager "herald", the binary) wrote no Service; the operator did.
	for _, name := range []string{"agent-web", "agent-lan"} {
		var s corev1.Service
		if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		for _, mf := range s.ManagedFields {
			if mf.Manager == "herald" {
				t.Errorf("an agent wrote Service %s: %+v", name, mf)
			}
		}
	}
}

// cliAt runs a herald subcommand against the status socket in state.
func cliAt(bin, state string, args ...string) (string, error) {
	out, err := execCommand(bin, append(args, "--state", state)...)
	return out, err
}

func execCommand(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}
