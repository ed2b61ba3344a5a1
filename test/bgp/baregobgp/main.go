// Command baregobgp is GoBGP v4 used as a bare library, nothing of Herald around it: the
// benchmarks' second reference speaker, so that Herald's own cost on top of the library it
// embeds is measured in the same run. It peers with one router and, on SIGUSR1, adds N /32s
// in one AddPath call; on SIGUSR2 it withdraws them in one DeletePath call. Each step is
// logged with a timestamp ("added", "deleted") for the benchmark to read.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

func main() {
	asn := flag.Uint("asn", 65010, "local AS")
	id := flag.String("router-id", "", "router ID")
	peer := flag.String("peer", "", "router address")
	peerASN := flag.Uint("peer-asn", 65001, "router AS")
	n := flag.Int("n", 1000, "/32s to advertise, from 100.64.0.0")
	flag.Parse()
	if err := run(uint32(*asn), *id, *peer, uint32(*peerASN), *n); err != nil {
		fmt.Fprintln(os.Stderr, "baregobgp:", err)
		os.Exit(1)
	}
}

func run(asn uint32, id, peer string, peerASN uint32, n int) error {
	// Before the session can come up: the benchmark signals once the router sees it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM)
	ctx := context.Background()
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelWarn)
	srv := server.NewBgpServer(server.LoggerOption(slog.Default(), lvl))
	go srv.Serve()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: asn, RouterId: id, ListenPort: -1}}); err != nil {
		return err
	}
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:   &api.PeerConf{NeighborAddress: peer, PeerAsn: peerASN},
		Timers: &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 9, KeepaliveInterval: 3}},
	}}); err != nil {
		return err
	}
	paths := make([]*apiutil.Path, n)
	for i := range paths {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(64 + i>>16), byte(i >> 8), byte(i)}), 32)
		nlri, _ := gbgp.NewIPAddrPrefix(p)
		nh, _ := gbgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		paths[i] = &apiutil.Path{Family: gbgp.RF_IPv4_UC, Nlri: nlri, Attrs: []gbgp.PathAttributeInterface{gbgp.NewPathAttributeOrigin(gbgp.BGP_ORIGIN_ATTR_TYPE_IGP), nh}}
	}
	fmt.Println("ready")
	for s := range sig {
		start := time.Now()
		switch s {
		case syscall.SIGUSR1:
			if _, err := srv.AddPath(apiutil.AddPathRequest{Paths: paths}); err != nil {
				return err
			}
			fmt.Println("added", n, "in", time.Since(start))
		case syscall.SIGUSR2:
			if err := srv.DeletePath(apiutil.DeletePathRequest{DeleteAll: true}); err != nil {
				return err
			}
			fmt.Println("deleted", n, "in", time.Since(start))
		default:
			srv.Stop()
			return nil
		}
	}
	return nil
}
