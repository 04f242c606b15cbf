package model

import (
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sosodev/duration"

	"github.com/taskforge/taskforge/domain"
)

// DateTimeOrDuration is the DateTimeOrDuration scalar of the task filters: an instant (an RFC
// 3339 time or a plain date, midnight UTC) or an ISO 8601 duration from the request's time,
// positive into the future and negative ("-P2W") into the past, Linear's convention.
type DateTimeOrDuration struct {
	at       time.Time
	duration *duration.Duration
	text     string
}

// maxRelative bounds a duration's hours, minutes and seconds (besides its calendar years, months,
// weeks and days, which At bounds by the year they reach).
const maxRelative = 100 * 365 * 24 * time.Hour

// At is the instant d names, a duration counted from now.
func (d DateTimeOrDuration) At(now time.Time) (time.Time, error) {
	if d.duration == nil {
		return d.at, nil
	}
	p := d.duration
	days := p.Weeks*7 + p.Days
	clock := (days-math.Trunc(days))*24*float64(time.Hour) + p.Hours*float64(time.Hour) + p.Minutes*float64(time.Minute) +
		p.Seconds*float64(time.Second)
	if p.Years != math.Trunc(p.Years) || p.Months != math.Trunc(p.Months) {
		return time.Time{}, domain.InvalidInput("", "years and months of a duration must be whole")
	}
	if p.Years > 9999 || p.Months > 12*9999 || days > 366*9999 || clock > float64(maxRelative) {
		return time.Time{}, domain.InvalidInput("", "the duration is too long")
	}
	sign := 1
	if p.Negative {
		sign = -1
	}
	t := now.AddDate(sign*int(p.Years), sign*int(p.Months), sign*int(days)).Add(time.Duration(float64(sign) * clock))
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, domain.InvalidInput("", "the duration reaches past year 9999 or before year 1")
	}
	return t, nil
}

// UnmarshalGQL reads an RFC 3339 time, a date or a duration; anything else is INVALID_INPUT,
// named by its place in the arguments.
func (d *DateTimeOrDuration) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return domain.InvalidInput("", "must be an RFC 3339 time, a date (2026-12-24) or an ISO 8601 duration (P7D, -P2W)")
	}
	if strings.HasPrefix(s, "P") || strings.HasPrefix(s, "-P") {
		body := strings.TrimPrefix(s, "-")
		p, err := duration.Parse(s)
		if err != nil || body == "P" || strings.HasSuffix(body, "T") || strings.Contains(body, "-") {
			return domain.InvalidInput("", "not an ISO 8601 duration such as P7D, PT12H or -P2W")
		}
		*d = DateTimeOrDuration{duration: p, text: s}
		if _, err := d.At(time.Now()); err != nil {
			return err
		}
		return nil
	}
	t, err := ParseDueDate(s)
	if err != nil {
		return domain.InvalidInput("", "must be an RFC 3339 time, a date (2026-12-24) or an ISO 8601 duration (P7D, -P2W)")
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return domain.InvalidInput("", "must be within years 1 to 9999")
	}
	*d = DateTimeOrDuration{at: t, text: s}
	return nil
}

// MarshalGQL writes the value as it was read (the scalar is input only).
func (d DateTimeOrDuration) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(d.text))
}
