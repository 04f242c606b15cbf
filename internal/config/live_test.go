package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLiveFromEnv(t *testing.T) {
	keys := []string{"LIVE_SLOW_AFTER", "LIVE_MAX_QUEUE", "LIVE_WAIT_WARN"}
	for _, k := range keys {
		t.Setenv(k, "")
	}
	c, err := FromEnv()
	require.NoError(t, err)
	require.Equal(t, Live{}, c.Live, "unset: the hub's defaults")

	for i, k := range keys {
		t.Setenv(k, []string{"45s", "500", "2s"}[i])
	}
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, Live{SlowAfter: 45 * time.Second, MaxQueue: 500, WaitWarn: 2 * time.Second}, c.Live)

	for k, v := range map[string]string{"LIVE_SLOW_AFTER": "0s", "LIVE_WAIT_WARN": "soon", "LIVE_MAX_QUEUE": "0"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			_, err := FromEnv()
			require.ErrorContains(t, err, k)
		})
	}
}
