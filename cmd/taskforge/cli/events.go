package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/config"
)

// errBrokenChain makes `events verify` exit non-zero after printing what broke.
var errBrokenChain = errors.New("hash chain broken")

// eventsCmd is `taskforge events export|verify`, the auditors' tools.
func eventsCmd(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: events needs export or verify", errUsage)
	}
	fs := flag.NewFlagSet("events "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "export":
		var f eventstore.ExportFilter
		var types, since, until string
		fs.StringVar(&f.StreamID, "stream", "", "only this stream")
		fs.StringVar(&types, "type", "", "only these event types (comma-separated)")
		fs.StringVar(&since, "since", "", "recorded at or after (RFC 3339)")
		fs.StringVar(&until, "until", "", "recorded before (RFC 3339)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if types != "" {
			f.Types = strings.Split(types, ",")
		}
		var err error
		if f.Since, err = parseTime("since", since); err != nil {
			return err
		}
		if f.Until, err = parseTime("until", until); err != nil {
			return err
		}
		return withStore(ctx, cfg, func(es *eventstore.Store) error {
			n, err := es.Export(ctx, stdout, f)
			fmt.Fprintf(stderr, "exported %d events\n", n)
			return err
		})
	case "verify":
		var stream, file string
		fs.StringVar(&stream, "stream", "", "verify only this stream")
		fs.StringVar(&file, "file", "", "verify an NDJSON export offline instead of the database")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if file != "" {
			in, err := os.Open(file)
			if err != nil {
				return err
			}
			defer in.Close()
			rep, err := eventstore.VerifyExport(in)
			if err != nil {
				return err
			}
			return printReport(stdout, rep)
		}
		return withStore(ctx, cfg, func(es *eventstore.Store) error {
			if stream != "" {
				r, err := es.Verify(ctx, stream)
				if err != nil {
					return err
				}
				rep := eventstore.Report{Streams: 1, Events: r.Events}
				if r.Break != nil {
					rep.Breaks = []eventstore.Break{*r.Break}
				}
				return printReport(stdout, rep)
			}
			rep, err := es.VerifyAll(ctx)
			if err != nil {
				return err
			}
			return printReport(stdout, rep)
		})
	default:
		return fmt.Errorf("%w: unknown events command %q", errUsage, args[0])
	}
}

func printReport(w io.Writer, rep eventstore.Report) error {
	fmt.Fprintf(w, "streams %d, events %d\n", rep.Streams, rep.Events)
	if rep.Redacted > 0 {
		fmt.Fprintf(w, "redacted %d (secrets removed by the export: their links were checked, not their content)\n", rep.Redacted)
	}
	if rep.Digest != nil {
		fmt.Fprintf(w, "digest %s (keep it elsewhere: a later run that differs means history changed)\n", hex.EncodeToString(rep.Digest))
	}
	for _, b := range rep.Breaks {
		fmt.Fprintf(w, "BROKEN %s\n", b)
	}
	if len(rep.Breaks) > 0 {
		return fmt.Errorf("%d streams: %w", len(rep.Breaks), errBrokenChain)
	}
	fmt.Fprintln(w, "ok: every chain holds")
	return nil
}

func withStore(ctx context.Context, cfg config.Config, fn func(*eventstore.Store) error) error {
	pools, err := openPools(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer pools.Close()
	// Upcast on read, redacted in exports: the CLI shows no secret either.
	es, err := eventstore.New(pools.Pool, eventstore.Options{Upcasters: commands.Upcasters(), Redact: domain.RedactStored})
	if err != nil {
		return err
	}
	return fn(es)
}

func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --%s: want RFC 3339 such as 2026-01-02T15:04:05Z, got %q", errUsage, name, v)
	}
	return t, nil
}
