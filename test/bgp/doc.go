// Package bgp holds the BGP interop tests: herald processes in network namespaces peering with
// a real FRR router, asserting on what FRR reports (vtysh JSON) and installs (its kernel
// routing table), never only on Herald's own view.
package bgp
