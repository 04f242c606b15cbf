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

	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/sideeffects"
)

// deadLettersListOptions are the flags of `taskforge deadletters list`.
type deadLettersListOptions struct {
	json  bool
	limit int
	after string // a cursor printed by the previous page (or the API's endCursor)
}

func (o deadLettersListOptions) validate() error {
	if o.limit < 1 || o.limit > 1000 {
		return fmt.Errorf("%w: --limit: want 1 to 1000, got %d", errUsage, o.limit)
	}
	if _, err := sideeffects.ParseDeadLetterCursor(o.after); err != nil {
		return fmt.Errorf("%w: --after: %v", errUsage, err)
	}
	return nil
}

// deadLettersRetryOptions are the arguments of `taskforge deadletters retry ID|--all`.
type deadLettersRetryOptions struct {
	all bool
	id  sideeffects.DeadLetterID // as list and the API print it: webhook-5, email-7
}

func (o deadLettersRetryOptions) validate() error {
	if o.all == (o.id != sideeffects.DeadLetterID{}) {
		return fmt.Errorf("%w: deadletters retry needs one ID or --all", errUsage)
	}
	return nil
}

func deadLettersCmd(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: deadletters needs list or retry", errUsage)
	}
	fs := flag.NewFlagSet("deadletters "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var run func(*sideeffects.Inspector) error
	switch args[0] {
	case "list":
		var o deadLettersListOptions
		fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
		fs.IntVar(&o.limit, "limit", 100, "most dead letters to show, newest first")
		fs.StringVar(&o.after, "after", "", "continue after this cursor (printed at the end of the previous page)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: deadletters list takes no arguments", errUsage)
		}
		if err := o.validate(); err != nil {
			return err
		}
		run = func(in *sideeffects.Inspector) error { return listDeadLetters(ctx, in, o, stdout, stderr) }
	case "retry":
		var o deadLettersRetryOptions
		fs.BoolVar(&o.all, "all", false, "requeue every dead letter")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		switch fs.NArg() {
		case 0:
		case 1:
			id, err := sideeffects.ParseDeadLetterID(fs.Arg(0))
			if err != nil {
				return fmt.Errorf("%w: deadletters retry: %v", errUsage, err)
			}
			o.id = id
		default:
			return fmt.Errorf("%w: deadletters retry takes one id", errUsage)
		}
		if err := o.validate(); err != nil {
			return err
		}
		run = func(in *sideeffects.Inspector) error { return retryDeadLetters(ctx, in, o, stdout) }
	default:
		return fmt.Errorf("%w: unknown deadletters command %q", errUsage, args[0])
	}

	pools, err := openPools(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer pools.Close()
	in, err := sideeffects.NewInspector(pools.Pool)
	if err != nil {
		return err
	}
	return run(in)
}

func listDeadLetters(ctx context.Context, in *sideeffects.Inspector, o deadLettersListOptions, stdout, stderr io.Writer) error {
	// A stalled consumer enqueues nothing: say so, since it is the other way side effects stop.
	if st, err := in.Consumer(ctx); err == nil && st.LastError != "" {
		fmt.Fprintf(stderr, "warning: the side-effect consumer is failing: %s\n", st.LastError)
	}
	after, _ := sideeffects.ParseDeadLetterCursor(o.after) // validated
	page, err := in.ListDeadLetters(ctx, sideeffects.DeadLetterQuery{After: after, Limit: o.limit})
	if err != nil {
		return err
	}
	dead := page.Items
	if page.More { // stderr, so that --json's stdout stays one object per line
		defer fmt.Fprintf(stderr, "more: deadletters list --after %s\n", dead[len(dead)-1].Cursor())
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		for _, d := range dead {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	}
	if len(dead) == 0 {
		fmt.Fprintln(stdout, "no dead letters")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tEVENT TYPE\tEVENT ID\tTARGET\tATTEMPTS\tDEAD AT\tLAST ERROR")
	for _, d := range dead {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Kind, d.EventType, d.EventID, d.Target,
			d.Attempts, d.DeadAt.UTC().Format(time.RFC3339), oneLine(d.LastError, 80))
	}
	return w.Flush()
}

func retryDeadLetters(ctx context.Context, in *sideeffects.Inspector, o deadLettersRetryOptions, stdout io.Writer) error {
	if o.all {
		n, err := in.RetryAll(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "requeued %d dead letters\n", n)
		return nil
	}
	if err := in.Retry(ctx, o.id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "requeued %s\n", o.id)
	return nil
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
