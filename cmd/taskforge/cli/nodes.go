package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskforge/taskforge/internal/cluster"
	"github.com/taskforge/taskforge/internal/config"
)

// nodesCmd lists the deployment's live processes (internal/cluster).
func nodesCmd(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: nodes takes no arguments", errUsage)
	}
	pools, err := openPools(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer pools.Close()
	nodes, err := cluster.Live(ctx, pools.Pool, 0)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, n := range nodes {
			if err := enc.Encode(n); err != nil {
				return err
			}
		}
		return nil
	}
	if len(nodes) == 0 {
		fmt.Fprintln(stderr, "no live process (a `taskforge serve` registers itself while it runs)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tHOST\tPID\tVERSION\tUP\tLAST HEARTBEAT\tCONSUMERS (LEASE AGE)")
	now := time.Now()
	for _, n := range nodes {
		owned := make([]string, len(n.Consumers))
		for i, c := range n.Consumers {
			owned[i] = fmt.Sprintf("%s (%s)", c.Name, now.Sub(c.AcquiredAt).Round(time.Second))
		}
		if len(owned) == 0 {
			owned = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s ago\t%s\n", n.ID, n.Role, n.Host, n.PID, n.Version,
			now.Sub(n.StartedAt).Round(time.Second), now.Sub(n.HeartbeatAt).Round(time.Millisecond), strings.Join(owned, ", "))
	}
	return tw.Flush()
}
