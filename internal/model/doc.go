// Package model holds Herald's pure domain types: pools, Services, nodes, endpoints and the BGP
// and L2 configuration, on net/netip, with the parsers for user-written values (blocks,
// communities, selectors, IPAM annotations) that every edge shares.
//
// Kubernetes and manifest objects become model values once, at the source (package translate);
// nothing here imports Kubernetes, Prometheus or GoBGP, and a test in this package enforces it.
package model
