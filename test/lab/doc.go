// Package lab holds the end-to-end tests: each seed's manifests as a scenario in the homelab
// in a box (internal/lab), with the router, the nodes' agents and the client all real, and the
// resilience of the lab's own example (`make lab`): agent restarts, dead nodes, drains.
package lab
