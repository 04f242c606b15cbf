package config

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Live are the settings of the live hub behind GraphQL subscriptions (graph/live.HubOptions).
// Zero values take the hub's defaults, given here for reference.
//
//	LIVE_SLOW_AFTER  how long a subscription's next message may wait for its client to take it
//	                 before the subscription is dropped as SLOW_CONSUMER (default 30s)
//	LIVE_MAX_QUEUE   messages pending for one subscription before it is dropped (default 10000)
//	LIVE_WAIT_WARN   how long the hub waits for the projections before it logs a warning, then
//	                 once per that interval while the wait lasts (default 10s; it never gives up)
type Live struct {
	SlowAfter time.Duration
	MaxQueue  int
	WaitWarn  time.Duration
}

// liveFromEnv reads Live; unset values stay zero, present but invalid ones are errors.
func liveFromEnv() (Live, error) {
	var l Live
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"LIVE_SLOW_AFTER", &l.SlowAfter}, {"LIVE_WAIT_WARN", &l.WaitWarn}} {
		if v := os.Getenv(d.key); v != "" {
			p, err := time.ParseDuration(v)
			if err != nil || p <= 0 {
				return l, fmt.Errorf("%s: want a positive duration such as 30s, got %q", d.key, v)
			}
			*d.dst = p
		}
	}
	if v := os.Getenv("LIVE_MAX_QUEUE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10_000_000 {
			return l, fmt.Errorf("LIVE_MAX_QUEUE: want a number from 1 to 10000000, got %q", v)
		}
		l.MaxQueue = n
	}
	return l, nil
}
