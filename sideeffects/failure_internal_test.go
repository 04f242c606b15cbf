package sideeffects

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Whatever an attempt fails with, last_error gets a short fixed text: no address, resolver, URL
// (tokens) or body.
func TestDescribeFailure(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://hooks.example.com/T0/secret-token", Err: err}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Err: ErrDestinationNotAllowed}), "connect refused: private address"},
		{wrap(&net.DNSError{Err: "no such host", Name: "hooks.example.com", Server: "10.0.0.2:53"}), "DNS lookup failed"},
		{wrap(context.DeadlineExceeded), "timeout"},
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 443},
			Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}), "connection refused"},
		{wrap(errors.New("tls: failed to verify certificate: x509: certificate is valid for db.corp.internal")), "TLS handshake failed"},
		{wrap(&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer 10.1.2.3:443")}), "connection failed"},
		{failure{"HTTP 500", nil}, "HTTP 500"},
		{fmt.Errorf("wrapped: %w", failure{"signing secret unavailable", errors.New("row missing")}), "signing secret unavailable"},
	} {
		got := describeFailure(c.err)
		require.Equal(t, c.want, got, c.err.Error())
		require.NotContains(t, got, "10.")
		require.NotContains(t, got, "secret-token")
	}
}
