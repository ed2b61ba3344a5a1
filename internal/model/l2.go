package model

import "regexp"

// L2Policy selects Services whose addresses are answered for with ARP/NDP, and the nodes and
// interfaces that answer.
type L2Policy struct {
	Name            string
	ServiceSelector *Selector // nil: every Service
	NodeSelector    *Selector // nil: every node
	// Interfaces are regular expressions matched against interface names, ORed; empty means the
	// interface of the node's default route.
	Interfaces      []*regexp.Regexp
	LoadBalancerIPs bool
	ExternalIPs     bool
}
