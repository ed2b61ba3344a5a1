// Package l2 tests L2 announcements in network namespaces: three nodes running herald on a LAN
// bridge, a client that resolves the VIPs with real ARP and NDP and connects to them over TCP,
// and the failures that matter: a killed agent, a cut link, a cut heartbeat path.
package l2
