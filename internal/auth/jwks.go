package auth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// jwks caches an identity provider's RSA signing keys by key id. An unknown kid triggers a refetch
// (keys rotate), at most once per minRefresh so that forged kids cannot make us hammer the
// provider; known keys are refetched after maxAge.
type jwks struct {
	url    string
	client *http.Client

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time
}

const (
	jwksMinRefresh = 30 * time.Second
	jwksMaxAge     = time.Hour
)

func newJWKS(url string, client *http.Client) *jwks {
	return &jwks{url: url, client: client, keys: map[string]*rsa.PublicKey{}}
}

func (j *jwks) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k, ok := j.keys[kid]
	age := time.Since(j.fetched)
	if ok && age < jwksMaxAge {
		return k, nil
	}
	if !j.fetched.IsZero() && age < jwksMinRefresh {
		if ok {
			return k, nil
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	// Holding the lock while fetching makes concurrent misses wait for one fetch.
	if err := j.fetch(ctx); err != nil {
		if ok {
			return k, nil // a provider outage must not lock out tokens signed with known keys
		}
		return nil, err
	}
	if k, ok = j.keys[kid]; !ok {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	return k, nil
}

func (j *jwks) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	var doc struct {
		Keys []struct {
			Kty, Kid, Use, Alg, N, E string
		} `json:"keys"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		pub, err := rsaKey(k.N, k.E)
		if err != nil {
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return errors.New("fetch jwks: no RS256 signing keys")
	}
	j.keys, j.fetched = keys, time.Now()
	return nil
}

func rsaKey(n64, e64 string) (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(n64)
	if err != nil {
		return nil, err
	}
	e, err := base64.RawURLEncoding.DecodeString(e64)
	if err != nil || len(e) > 4 {
		return nil, errors.New("bad exponent")
	}
	var exp int
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	if pub.N.BitLen() < 2048 || exp < 3 {
		return nil, errors.New("weak key")
	}
	return pub, nil
}
