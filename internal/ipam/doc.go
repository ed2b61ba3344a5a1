// Package ipam is Herald's LB-IPAM allocator: it hands LoadBalancer Services addresses from
// pools with Cilium's semantics (selectors, requested IPs, sharing keys, dual-stack, reserved
// first/last addresses, conflicting pools) plus MetalLB's scoping (priority, namespaces,
// autoAssign, avoidBuggyIPs).
//
// It is pure: no Kubernetes, no I/O. Free addresses live in per-block B-trees of free spans and
// leases in a map, so memory grows with allocations, not with pool size (a 10.0.0.0/8 or an
// IPv6 /64 pool costs what a /24 does), and allocate, request and release are O(log n).
//
// Invariants: an address has at most one lease; a lease with several owners carries one
// sharing key and owners that are pairwise compatible (same key, no (port, protocol) clash,
// same externalTrafficPolicy, namespaces that allow each other).
package ipam
