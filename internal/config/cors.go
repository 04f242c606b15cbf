package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// CORS is which browser pages of other origins may call the API (app wires it around the
// GraphQL handler).
//
//	CORS_ORIGINS  comma-separated exact origins (scheme://host[:port]) whose pages may send
//	              GraphQL requests with the caller's Authorization header, e.g.
//	              https://app.example.com (default none: same-origin pages only). "*" is
//	              refused: the API answers with credentials allowed.
type CORS struct {
	Origins []string
}

// corsFromEnv reads CORS.
func corsFromEnv() (CORS, error) {
	var c CORS
	for _, o := range strings.Split(os.Getenv("CORS_ORIGINS"), ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if err := checkOrigin(o); err != nil {
			return c, fmt.Errorf("CORS_ORIGINS: %w", err)
		}
		c.Origins = append(c.Origins, o)
	}
	return c, nil
}

// checkOrigin accepts an origin as a browser sends it: http or https, a host, an optional port,
// and nothing else (no path, no trailing slash, no wildcard).
func checkOrigin(o string) error {
	if strings.Contains(o, "*") {
		return fmt.Errorf("%q: wildcards are not allowed (list each origin: the API allows credentials)", o)
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || o != u.Scheme+"://"+u.Host {
		return fmt.Errorf("%q is not an origin such as https://app.example.com", o)
	}
	if strings.ToLower(o) != o {
		return fmt.Errorf("%q: write the origin in lower case, as browsers send it", o)
	}
	return nil
}
