package kube

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const chart = "../../deploy/helm/herald"

// helm runs the helm hack/test.sh built (HERALD_HELM); a missing helm fails, never skips.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	bin := os.Getenv("HERALD_HELM")
	if bin == "" {
		out, err := exec.Command("../../hack/helm.sh").Output()
		if err != nil {
			t.Fatalf("helm is needed for the chart tests: hack/helm.sh: %v", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// rendered decodes helm template output into typed objects (strictly: an unknown field in a
// template is an error).
func rendered(t *testing.T, scheme *runtime.Scheme, out string) []client.Object {
	t.Helper()
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	var objs []client.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || bytes.HasPrefix(bytes.TrimSpace(doc), []byte("#")) && !bytes.Contains(doc, []byte("kind:")) {
			continue
		}
		o, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("rendered document does not decode strictly: %v\n%s", err, doc)
		}
		objs = append(objs, o.(client.Object))
	}
	return objs
}

// TestHelmChart: the chart lints, renders with the values a user sets, installs into a real
// API server (every object validated by it), and its RBAC is least privilege as the API
// server's own authorizer answers: the agent cannot write Services or read Secrets outside
// Herald's namespace; the operator reads Secrets only there (to say when a peer config's MD5
// Secret is missing) and writes none.
func TestHelmChart(t *testing.T) {
	helm(t, "lint", chart, "--kube-version", "1.36.3")
	const ns = "herald-helm"
	out := helm(t, "template", "herald", chart, "-n", ns, "--kube-version", "1.36.3",
		"--set", "image.tag=v9.9.9", "--set", "logLevel=debug", "--set", "operator.metricsPort=9999",
		"--set", "agent.nodeSelector.herald-test/role=edge", "--set", "agent.tolerations[0].key=dedicated",
		"--set", "agent.tolerations[0].operator=Exists")
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme, authzv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	objs := rendered(t, scheme, out)
	var ds *appsv1.DaemonSet
	var dep *appsv1.Deployment
	for _, o := range objs {
		switch x := o.(type) {
		case *appsv1.DaemonSet:
			ds = x
		case *appsv1.Deployment:
			dep = x
		}
	}
	if ds == nil || dep == nil {
		t.Fatalf("rendered objects lack the agent DaemonSet or the operator Deployment: %d objects", len(objs))
	}
	agent := ds.Spec.Template.Spec.Containers[0]
	caps := agent.SecurityContext.Capabilities
	if !ds.Spec.Template.Spec.HostNetwork || len(caps.Add) != 2 || caps.Add[0] != "NET_ADMIN" || caps.Add[1] != "NET_RAW" || len(caps.Drop) != 1 || caps.Drop[0] != "ALL" {
		t.Errorf("agent: hostNetwork %v, capabilities %+v; want hostNetwork and exactly NET_ADMIN + NET_RAW", ds.Spec.Template.Spec.HostNetwork, caps)
	}
	if agent.Image != "ghcr.io/heraldlb/herald:v9.9.9" || !slices.Contains(agent.Args, "--log-level=debug") || ds.Spec.Template.Spec.NodeSelector["herald-test/role"] != "edge" ||
		len(ds.Spec.Template.Spec.Tolerations) != 1 || ds.Spec.Template.Spec.Tolerations[0].Key != "dedicated" {
		t.Errorf("agent does not follow the values: image %s args %v nodeSelector %v tolerations %v", agent.Image, agent.Args, ds.Spec.Template.Spec.NodeSelector, ds.Spec.Template.Spec.Tolerations)
	}
	op := dep.Spec.Template.Spec.Containers[0]
	if !slices.Contains(op.Args, "--metrics-addr=:9999") || op.Ports[0].ContainerPort != 9999 || !slices.Contains(op.Args, "--leader-election-namespace="+ns) {
		t.Errorf("operator does not follow the values: args %v ports %v", op.Args, op.Ports)
	}

	for name, c := range map[string]corev1.Container{"agent": agent, "operator": op} {
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
			return e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory"
		}) {
			t.Errorf("%s: GOMEMLIMIT does not follow the container's memory limit: env %+v", name, c.Env)
		}
	}

	// Install: the API server validates every object.
	ctx := context.Background()
	ensureNamespace(t, ns)
	kc, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := kc.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
		t.Cleanup(func() { _ = kc.Delete(context.Background(), o) })
	}

	// Least privilege, as the API server's authorizer decides.
	can := func(sa, verb, group, resource, sub, namespace string) bool {
		t.Helper()
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + ns + ":" + sa,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Subresource: sub, Namespace: namespace},
		}}
		if err := kc.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	for _, c := range []struct {
		sa, verb, group, resource, sub, namespace string
		want                                      bool
	}{
		{"herald-agent", "list", "", "services", "", "", true},
		{"herald-agent", "update", "", "services", "", "default", false},
		{"herald-agent", "patch", "", "services", "status", "default", false},
		{"herald-agent", "create", "", "services", "", "default", false},
		{"herald-agent", "get", "", "secrets", "", ns, true},
		{"herald-agent", "get", "", "secrets", "", "default", false},
		{"herald-agent", "list", "", "secrets", "", "", false},
		{"herald-agent", "patch", "herald.io", "bgpnodeconfigs", "status", "", true},
		{"herald-agent", "update", "herald.io", "bgpnodeconfigs", "", "", false},
		{"herald-agent", "update", "coordination.k8s.io", "leases", "", ns, true},
		{"herald-agent", "update", "coordination.k8s.io", "leases", "", "kube-node-lease", false},
		{"herald-operator", "patch", "", "services", "status", "default", true},
		{"herald-operator", "update", "", "services", "", "default", false},
		{"herald-operator", "list", "", "secrets", "", ns, true}, // whether the MD5 Secrets peer configs name exist
		{"herald-operator", "get", "", "secrets", "", "default", false},
		{"herald-operator", "list", "", "secrets", "", "", false},
		{"herald-operator", "update", "", "secrets", "", ns, false},
		{"herald-operator", "patch", "herald.io", "bgppeerconfigs", "status", "", true},
		{"herald-operator", "patch", "herald.io", "bgppeerconfigs", "", "", false},
		{"herald-operator", "create", "herald.io", "bgpnodeconfigs", "", "", true},
		{"herald-operator", "list", "discovery.k8s.io", "endpointslices", "", "", true},
		{"herald-operator", "update", "coordination.k8s.io", "leases", "", ns, true},
		{"herald-operator", "update", "coordination.k8s.io", "leases", "", "default", false},
	} {
		if got := can(c.sa, c.verb, c.group, c.resource, c.sub, c.namespace); got != c.want {
			t.Errorf("%s may %s %s/%s/%s in %q: %v, want %v", c.sa, c.verb, c.group, c.resource, c.sub, c.namespace, got, c.want)
		}
	}
}
