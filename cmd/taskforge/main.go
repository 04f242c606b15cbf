// Command taskforge is the Taskforge service and its operator tools. Run `taskforge help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/taskforge/taskforge/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
