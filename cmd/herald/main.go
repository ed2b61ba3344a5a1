// Command herald gives type: LoadBalancer Services on bare metal an address and a route: LB-IPAM,
// BGP and L2 announcements in one binary. Run `herald --help` for the subcommands.
package main

import (
	"os"

	"github.com/heraldlb/herald/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
