package config

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFromEnvDefaultsAndValidation(t *testing.T) {
	for _, k := range []string{"DATABASE_URL", "HTTP_ADDR", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT", "DB_MAX_CONNS"} {
		t.Setenv(k, "")
	}
	c, err := FromEnv()
	require.NoError(t, err)
	require.Equal(t, DefaultDatabaseURL, c.DatabaseURL)
	require.Equal(t, ":8080", c.HTTPAddr)
	require.Equal(t, slog.LevelInfo, c.LogLevel)
	require.Equal(t, 15*time.Second, c.ShutdownTimeout)
	require.EqualValues(t, 16, c.DBMaxConns)

	t.Setenv("LOG_LEVEL", "debug")
	t.Setenv("SHUTDOWN_TIMEOUT", "3s")
	t.Setenv("DB_MAX_CONNS", "40")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, slog.LevelDebug, c.LogLevel)
	require.Equal(t, 3*time.Second, c.ShutdownTimeout)
	require.EqualValues(t, 40, c.DBMaxConns)

	for k, v := range map[string]string{"LOG_LEVEL": "loud", "LOG_FORMAT": "xml", "SHUTDOWN_TIMEOUT": "-1s", "DB_MAX_CONNS": "many",
		"GRAPHQL_MAX_COMPLEXITY": "0", "RATE_LIMIT": "maybe", "RATE_LIMIT_COST": "-1", "MEMORY_LIMIT": "1MiB",
		"GRAPHQL_MAX_RESPONSE_BYTES": "big", "GRAPHQL_TIMEOUT": "0s", "RATE_LIMIT_TRUSTED_PROXIES": "10.0.0.0/33"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			_, err := FromEnv()
			require.ErrorContains(t, err, k)
		})
	}
}

func TestLimitsFromEnv(t *testing.T) {
	for _, k := range []string{"GRAPHQL_MAX_COMPLEXITY", "RATE_LIMIT", "MEMORY_LIMIT", "GOMEMLIMIT", "RATE_LIMIT_COST",
		"GRAPHQL_MAX_RESPONSE_BYTES"} {
		t.Setenv(k, "")
	}
	c, err := FromEnv()
	require.NoError(t, err)
	require.True(t, c.Limits.RateLimit, "rate limits are on by default")
	require.Positive(t, c.Limits.MemoryLimit, "a memory limit by default")
	require.Zero(t, c.Limits.MaxComplexity, "zero: the API's default")

	t.Setenv("GRAPHQL_MAX_COMPLEXITY", "5000")
	t.Setenv("RATE_LIMIT", "false")
	t.Setenv("RATE_LIMIT_COST", "2.5")
	t.Setenv("MEMORY_LIMIT", "768MiB")
	t.Setenv("GRAPHQL_MAX_RESPONSE_BYTES", "2MiB")
	t.Setenv("RATE_LIMIT_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, 5000, c.Limits.MaxComplexity)
	require.False(t, c.Limits.RateLimit)
	require.Equal(t, 2.5, c.Limits.CostPerSecond)
	require.EqualValues(t, 768<<20, c.Limits.MemoryLimit)
	require.EqualValues(t, 2<<20, c.Limits.MaxResponseBytes)
	require.Equal(t, "[10.0.0.0/8 192.0.2.7/32]", fmt.Sprint(c.Limits.TrustedProxies))

	t.Setenv("MEMORY_LIMIT", "off")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Zero(t, c.Limits.MemoryLimit)
}
