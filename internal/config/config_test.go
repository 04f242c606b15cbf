package config

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFromEnvDefaultsAndValidation(t *testing.T) {
	for _, k := range []string{"DATABASE_URL", "HTTP_ADDR", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT", "DB_MAX_CONNS", "EVENTSTORE_GROUP_COMMIT", "GRAPHQL_READ_CACHE_MB"} {
		t.Setenv(k, "")
	}
	c, err := FromEnv()
	require.NoError(t, err)
	require.Equal(t, DefaultDatabaseURL, c.DatabaseURL)
	require.Equal(t, ":8080", c.HTTPAddr)
	require.Equal(t, slog.LevelInfo, c.LogLevel)
	require.Equal(t, 15*time.Second, c.ShutdownTimeout)
	require.EqualValues(t, 16, c.DBMaxConns)
	require.True(t, c.EventstoreGroupCommit)
	require.Equal(t, DefaultReadCacheMB, c.GraphQLReadCacheMB)

	t.Setenv("LOG_LEVEL", "debug")
	t.Setenv("SHUTDOWN_TIMEOUT", "3s")
	t.Setenv("DB_MAX_CONNS", "40")
	t.Setenv("EVENTSTORE_GROUP_COMMIT", "off")
	t.Setenv("GRAPHQL_READ_CACHE_MB", "0")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, slog.LevelDebug, c.LogLevel)
	require.Equal(t, 3*time.Second, c.ShutdownTimeout)
	require.EqualValues(t, 40, c.DBMaxConns)
	require.False(t, c.EventstoreGroupCommit)
	require.Zero(t, c.GraphQLReadCacheMB)

	for k, v := range map[string]string{"LOG_LEVEL": "loud", "LOG_FORMAT": "xml", "SHUTDOWN_TIMEOUT": "-1s", "DB_MAX_CONNS": "many", "EVENTSTORE_GROUP_COMMIT": "maybe",
		"GRAPHQL_MAX_COMPLEXITY": "0", "RATE_LIMIT": "maybe", "RATE_LIMIT_COST": "-1", "MEMORY_LIMIT": "1MiB",
		"GRAPHQL_MAX_RESPONSE_BYTES": "big", "GRAPHQL_TIMEOUT": "0s", "RATE_LIMIT_TRUSTED_PROXIES": "10.0.0.0/33", "GRAPHQL_READ_CACHE_MB": "-1"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			_, err := FromEnv()
			require.ErrorContains(t, err, k)
		})
	}
}

func TestOperationsFromEnv(t *testing.T) {
	for _, k := range []string{"TASKFORGE_OPERATORS", "DEBUG_SQL_HEADER", "METRICS_ADDR"} {
		t.Setenv(k, "") // restored after the test
	}
	require.NoError(t, os.Unsetenv("METRICS_ADDR")) // unset, not empty: the default applies
	c, err := FromEnv()
	require.NoError(t, err)
	require.Empty(t, c.Operators)
	require.Equal(t, "127.0.0.1:9090", c.MetricsAddr, "metrics on loopback by default")
	require.False(t, c.DebugSQLHeader)

	t.Setenv("TASKFORGE_OPERATORS", " ops-1, auth0|abc ,,ops-2,")
	t.Setenv("METRICS_ADDR", "")
	t.Setenv("DEBUG_SQL_HEADER", "true")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, []string{"ops-1", "auth0|abc", "ops-2"}, c.Operators)
	require.Empty(t, c.MetricsAddr, "set empty: no metrics listener")
	require.True(t, c.DebugSQLHeader)

	for k, v := range map[string]string{"TASKFORGE_OPERATORS": "ops-1,not a subject", "DEBUG_SQL_HEADER": "maybe"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			_, err := FromEnv()
			require.ErrorContains(t, err, k)
		})
	}
}

func TestWebhookSecretKey(t *testing.T) {
	t.Setenv("WEBHOOK_SECRET_KEY", "")
	c, err := FromEnv()
	require.NoError(t, err)
	require.Nil(t, c.WebhookSecretKey, "no default key: serve requires one")

	hexKey := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	t.Setenv("WEBHOOK_SECRET_KEY", hexKey)
	c, err = FromEnv()
	require.NoError(t, err)
	require.Len(t, c.WebhookSecretKey, 32)
	require.EqualValues(t, 31, c.WebhookSecretKey[31])

	t.Setenv("WEBHOOK_SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	c, err = FromEnv()
	require.NoError(t, err)
	require.EqualValues(t, 31, c.WebhookSecretKey[31])

	for _, bad := range []string{"too-short-key-value", hexKey[:62], "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="} {
		t.Setenv("WEBHOOK_SECRET_KEY", bad)
		_, err := FromEnv()
		require.ErrorContains(t, err, "WEBHOOK_SECRET_KEY")
		require.NotContains(t, err.Error(), bad, "the key is never echoed")
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

func TestSideEffectsFromEnv(t *testing.T) {
	keys := []string{"SMTP_ADDR", "SMTP_FROM", "SMTP_USERNAME", "SMTP_PASSWORD", "WEBHOOK_TIMEOUT", "WEBHOOK_MAX_ATTEMPTS",
		"WEBHOOK_WORKERS", "WEBHOOK_PER_ENDPOINT", "WEBHOOK_ALLOW_PRIVATE_NETWORKS"}
	for _, k := range keys {
		t.Setenv(k, "")
	}
	c, err := FromEnv()
	require.NoError(t, err)
	require.Equal(t, SideEffects{}, c.SideEffects, "unset: sideeffects' defaults")

	for i, k := range keys {
		t.Setenv(k, []string{"mail:25", "tf@example.com", "u", "p", "3s", "5", "7", "9", "true"}[i])
	}
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, SideEffects{SMTPAddr: "mail:25", SMTPFrom: "tf@example.com", SMTPUsername: "u", SMTPPassword: "p",
		WebhookTimeout: 3 * time.Second, WebhookMaxAttempts: 5, WebhookWorkers: 7, WebhookPerEndpoint: 9,
		WebhookAllowPrivateNetworks: true}, c.SideEffects)

	for k, v := range map[string]string{"SMTP_FROM": "", "WEBHOOK_TIMEOUT": "0s", "WEBHOOK_WORKERS": "0",
		"WEBHOOK_PER_ENDPOINT": "x", "WEBHOOK_MAX_ATTEMPTS": "1001", "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "maybe"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			_, err := FromEnv()
			require.ErrorContains(t, err, k)
		})
	}
}

func TestCORSFromEnv(t *testing.T) {
	t.Setenv("CORS_ORIGINS", "")
	c, err := FromEnv()
	require.NoError(t, err)
	require.Empty(t, c.CORS.Origins)

	t.Setenv("CORS_ORIGINS", " https://app.example.com, http://localhost:5173 ")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, []string{"https://app.example.com", "http://localhost:5173"}, c.CORS.Origins)

	for _, v := range []string{"*", "https://*.example.com", "app.example.com", "https://app.example.com/",
		"https://App.example.com", "ftp://example.com", "https://u@example.com"} {
		t.Run(v, func(t *testing.T) {
			t.Setenv("CORS_ORIGINS", v)
			_, err := FromEnv()
			require.ErrorContains(t, err, "CORS_ORIGINS")
		})
	}
}

func TestLinkSettings(t *testing.T) {
	t.Setenv("APP_URL", "")
	t.Setenv("API_URL", "")
	t.Setenv("WEBHOOK_SECRET_KEY", "")
	c, err := FromEnv()
	require.NoError(t, err)
	require.Empty(t, c.SideEffects.AppURL)
	require.Empty(t, c.SideEffects.APIURL)
	require.Nil(t, c.SideEffects.LinkKey, "no secret: no signed links")

	t.Setenv("APP_URL", " https://app.example.com/ ")
	t.Setenv("API_URL", "http://localhost:8080/api")
	t.Setenv("WEBHOOK_SECRET_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, "https://app.example.com", c.SideEffects.AppURL)
	require.Equal(t, "http://localhost:8080/api", c.SideEffects.APIURL)
	require.Len(t, c.SideEffects.LinkKey, 32)
	require.NotEqual(t, c.WebhookSecretKey, c.SideEffects.LinkKey, "derived, not the webhook key itself")

	for _, v := range []string{"app.example.com", "/relative", "ftp://app.example.com", "https://", "https://u:p@app.example.com",
		"https://app.example.com/?x=1", "https://app.example.com/#x", "mailto:x@example.com"} {
		for _, k := range []string{"APP_URL", "API_URL"} {
			t.Run(k+" "+v, func(t *testing.T) {
				t.Setenv(k, v)
				_, err := FromEnv()
				require.ErrorContains(t, err, k)
			})
		}
	}
}

func TestDatabaseURLs(t *testing.T) {
	for _, k := range []string{"DATABASE_URL", "DATABASE_DIRECT_URL", "DATABASE_EXEC_MODE"} {
		t.Setenv(k, "")
	}
	c, err := FromEnv()
	require.NoError(t, err)
	require.Equal(t, DefaultDatabaseURL, c.DatabaseDirectURL, "the direct URL defaults to DATABASE_URL")
	require.Equal(t, "auto", c.DatabaseExecMode)

	t.Setenv("DATABASE_URL", "postgres://app@127.0.0.1:6432/tf")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, "postgres://app@127.0.0.1:6432/tf", c.DatabaseDirectURL)

	t.Setenv("DATABASE_DIRECT_URL", "postgres://app@127.0.0.1:5432/tf")
	t.Setenv("DATABASE_EXEC_MODE", "cache_describe")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, "postgres://app@127.0.0.1:6432/tf", c.DatabaseURL)
	require.Equal(t, "postgres://app@127.0.0.1:5432/tf", c.DatabaseDirectURL)
	require.Equal(t, "cache_describe", c.DatabaseExecMode)

	for _, bad := range []string{"simple_protocol", "exec", "fast"} { // exec modes that break jsonb, or none
		t.Setenv("DATABASE_EXEC_MODE", bad)
		_, err = FromEnv()
		require.ErrorContains(t, err, "DATABASE_EXEC_MODE")
	}
}
