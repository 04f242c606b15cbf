package model

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
)

// TestDateTimeOrDuration: instants read as given; durations count from now, positive into the
// future and negative into the past, years and months by the calendar; anything else, a
// fractional month or a duration past year 9999 is INVALID_INPUT.
func TestDateTimeOrDuration(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-12-24":           time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC),
		"2026-12-24T09:00:00Z": time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC),
		"P7D":                  now.Add(7 * 24 * time.Hour),
		"-P2W":                 now.Add(-14 * 24 * time.Hour),
		"PT1.5H":               now.Add(90 * time.Minute),
		"P0.5D":                now.Add(12 * time.Hour),
		"P1Y2M":                time.Date(2027, 3, 31, 12, 0, 0, 0, time.UTC),
		"-P1M":                 time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC),
		"P1DT2H3M4S":           now.Add(26*time.Hour + 3*time.Minute + 4*time.Second),
		"PT0S":                 now,
	} {
		var d DateTimeOrDuration
		require.NoError(t, d.UnmarshalGQL(in), in)
		got, err := d.At(now)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: %s, want %s", in, got, want)
	}
	for _, in := range []any{"", "P", "-P", "PT", "P7", "7D", "P-7D", "+P7D", "P1.5M", "P1.5Y", "P99999Y", "-P10000Y",
		"PT99999999999H", "P1W2X", "soon", "2026-13-01", 12, nil, "P٣D"} {
		var d DateTimeOrDuration
		err := d.UnmarshalGQL(in)
		require.Equal(t, domain.CodeInvalidInput, domain.CodeOf(err), "%v", in)
	}
}
