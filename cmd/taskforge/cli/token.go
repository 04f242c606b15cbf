package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/config"
)

// tokenOptions are the flags of `taskforge token`.
type tokenOptions struct {
	user, email, name string
	ttl               time.Duration
}

func (o tokenOptions) validate() error {
	if o.user == "" {
		return fmt.Errorf("%w: --user is required", errUsage)
	}
	if o.ttl <= 0 || o.ttl > 30*24*time.Hour {
		return fmt.Errorf("%w: --ttl must be between 1s and 720h", errUsage)
	}
	return nil
}

// tokenCmd mints a development token signed with JWT_SECRET.
func tokenCmd(_ context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o tokenOptions
	fs.StringVar(&o.user, "user", "", "user id (the token subject)")
	fs.StringVar(&o.email, "email", "", "email")
	fs.StringVar(&o.name, "name", "", "display name")
	fs.DurationVar(&o.ttl, "ttl", 24*time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if cfg.JWTSecret == "" {
		return errors.New("token: JWT_SECRET is not set (tokens are signed with it; make run sets one for development)")
	}
	tok, err := auth.MintHS256([]byte(cfg.JWTSecret), auth.Principal{UserID: o.user, Email: o.email, Name: o.name,
		EmailVerified: o.email != ""}, // whoever holds the secret vouches for the address
		o.ttl, time.Now(), cfg.JWTIssuer, cfg.JWTAudience)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
