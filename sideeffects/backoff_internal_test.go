package sideeffects

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffFullJitterBounds(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 8, BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}
	for n := 1; n <= 70; n++ {
		ceiling := min(p.BackoffBase<<min(n-1, 20), p.BackoffMax)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := p.backoff(n)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceiling, "attempt %d", n)
			seen[d] = true
		}
		require.Greater(t, len(seen), 1, "jittered")
	}
}

func TestSign(t *testing.T) {
	t.Parallel()
	// HMAC-SHA256("key", "1700000000.{}"), computed independently with openssl.
	require.Equal(t, "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae", Sign("key", "1700000000", []byte("{}")))
}
