// Package netns builds small networks out of Linux network namespaces: namespaces, bridges,
// veth pairs between any two of them, and running code or dialling from inside one. It drives
// iproute2 (`ip`) for the plumbing and setns(2) on a locked OS thread for code. The lab (`herald
// lab`) and the namespace tests share it; nothing here touches the host's own interfaces.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoSuchNamespace is returned when a named namespace does not exist.
var ErrNoSuchNamespace = errors.New("no such network namespace")

// Run runs a command in the current (host) namespace and returns its output; the error names
// the command and carries what it printed.
func Run(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Exec runs a command inside namespace ns.
func Exec(ns string, args ...string) (string, error) {
	return Run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// Add creates namespace ns with its loopback up.
func Add(ns string) error {
	if _, err := Run("ip", "netns", "add", ns); err != nil {
		return err
	}
	_, err := Exec(ns, "ip", "link", "set", "lo", "up")
	return err
}

// Delete removes namespace ns. Processes inside keep running (the kernel keeps the namespace
// alive for them): stop them first.
func Delete(ns string) error {
	_, err := Run("ip", "netns", "del", ns)
	return err
}

// Exists reports whether namespace ns exists.
func Exists(ns string) bool {
	_, err := os.Stat("/var/run/netns/" + ns)
	return err == nil
}

// List returns the names of the namespaces whose names start with prefix.
func List(prefix string) []string {
	entries, _ := os.ReadDir("/var/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Bridge creates a bridge in ns, with the given addresses (CIDR notation), and sets it up.
func Bridge(ns, name string, addrs ...string) error {
	if _, err := Exec(ns, "ip", "link", "add", name, "type", "bridge"); err != nil {
		return err
	}
	for _, a := range addrs {
		if _, err := Exec(ns, "ip", "addr", "add", a, "dev", name); err != nil {
			return err
		}
	}
	_, err := Exec(ns, "ip", "link", "set", name, "up")
	return err
}

// Veth creates a veth pair with one end (name1) in ns1 and the other (name2) in ns2 in one
// step, so nothing is ever left behind in the host namespace. Both ends stay down.
func Veth(ns1, name1, ns2, name2 string) error {
	_, err := Run("ip", "link", "add", name1, "netns", ns1, "type", "veth", "peer", "name", name2, "netns", ns2)
	return err
}

// Attach connects ns to the bridge in bridgeNS: a veth named ifname in ns with the given
// addresses, its other end (hostSide, unique in bridgeNS) enslaved to the bridge. Router
// advertisements are ignored on ifname: test hosts keep exactly the addresses they are given
// (a SLAAC address could otherwise become a session's source).
func Attach(ns, ifname, bridgeNS, bridge, hostSide string, addrs ...string) error {
	if err := Veth(bridgeNS, hostSide, ns, ifname); err != nil {
		return err
	}
	steps := [][]string{
		{bridgeNS, "ip", "link", "set", hostSide, "master", bridge},
		{bridgeNS, "ip", "link", "set", hostSide, "up"},
		{ns, "sysctl", "-qw", "net/ipv6/conf/" + ifname + "/accept_ra=0"}, // slashes: names may hold dots
	}
	for _, a := range addrs {
		steps = append(steps, []string{ns, "ip", "addr", "add", a, "dev", ifname})
	}
	steps = append(steps, []string{ns, "ip", "link", "set", ifname, "up"})
	for _, s := range steps {
		if _, err := Exec(s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// Do runs fn on an OS thread that has entered namespace ns. Sockets fn creates belong to ns
// and keep working from any goroutine afterwards. The thread is thrown away afterwards, never
// returned to the Go scheduler in the wrong namespace.
func Do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the goroutine's end retires the thread
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- fmt.Errorf("%w: %s", ErrNoSuchNamespace, ns)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// DialContext is a net.Dialer's DialContext that creates its sockets in namespace ns, for
// HTTP and Kubernetes clients in the host namespace that must reach a server inside one.
func DialContext(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := Do(ns, func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// Listen opens a listener in namespace ns.
func Listen(ns, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := Do(ns, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}
