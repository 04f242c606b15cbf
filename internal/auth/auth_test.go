package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestHS256(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(Config{HS256Secret: secret, Issuer: "taskforge", Audience: "api"})
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Now()
	p := Principal{UserID: "u-1", Email: "ada@example.com", Name: "Ada"}

	tok, err := MintHS256(secret, p, time.Hour, now, "taskforge", "api")
	require.NoError(t, err)
	got, err := v.Verify(ctx, tok)
	require.NoError(t, err)
	require.WithinDuration(t, now.Add(time.Hour), got.ExpiresAt, time.Second)
	got.ExpiresAt = time.Time{}
	require.Equal(t, p, got)
	require.Equal(t, got.ExpiresAt, v.ValidUntil(got), "no leeway configured")

	// The service-wide role claim: a string or a list.
	op, err := MintHS256(secret, Principal{UserID: "u-op", Roles: []string{RoleOperator}}, time.Hour, now, "taskforge", "api")
	require.NoError(t, err)
	got, err = v.Verify(ctx, op)
	require.NoError(t, err)
	require.True(t, got.HasRole(RoleOperator))
	list := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-l", "exp": now.Add(time.Hour).Unix(),
		"iss": "taskforge", "aud": "api", "taskforge_role": []string{"auditor", RoleOperator}})
	raw, err := list.SignedString(secret)
	require.NoError(t, err)
	got, err = v.Verify(ctx, raw)
	require.NoError(t, err)
	require.True(t, got.HasRole(RoleOperator))
	require.False(t, p.HasRole(RoleOperator))

	bad := map[string]string{}
	bad["expired"], _ = MintHS256(secret, p, time.Minute, now.Add(-time.Hour), "taskforge", "api")
	bad["forged"], _ = MintHS256([]byte("another secret, also 32 bytes long!"), p, time.Hour, now, "taskforge", "api")
	bad["wrong issuer"], _ = MintHS256(secret, p, time.Hour, now, "someone-else", "api")
	bad["wrong audience"], _ = MintHS256(secret, p, time.Hour, now, "taskforge", "other")
	bad["not yet valid"], _ = MintHS256(secret, p, time.Hour, now.Add(time.Hour), "taskforge", "api")
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u-1", "exp": now.Add(time.Hour).Unix(), "iss": "taskforge", "aud": "api"})
	bad["alg none"], _ = none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-1", "iss": "taskforge", "aud": "api"})
	bad["no expiry"], _ = noExp.SignedString(secret)
	noSub := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "iss": "taskforge", "aud": "api"})
	bad["no subject"], _ = noSub.SignedString(secret)
	bad["garbage"] = "not.a.token"
	for name, tok := range bad {
		_, err := v.Verify(ctx, tok)
		require.ErrorIs(t, err, ErrUnauthenticated, name)
	}

	_, err = NewVerifier(Config{HS256Secret: []byte("short")})
	require.Error(t, err)
	_, err = NewVerifier(Config{})
	require.Error(t, err)
}

func TestFromRequest(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(Config{HS256Secret: secret})
	require.NoError(t, err)
	tok, err := MintHS256(secret, Principal{UserID: "u-2"}, time.Hour, time.Now(), "", "")
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	_, ok, err := v.FromRequest(req)
	require.False(t, ok)
	require.NoError(t, err, "no header is an anonymous request")
	req.Header.Set("Authorization", "bearer "+tok)
	p, ok, err := v.FromRequest(req)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "u-2", p.UserID)
	req.Header.Set("Authorization", "Basic abc")
	_, _, err = v.FromRequest(req)
	require.ErrorIs(t, err, ErrUnauthenticated)
}

// An identity provider's JWKS, with key rotation.
func TestRS256FromJWKS(t *testing.T) {
	t.Parallel()
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	var published atomic.Value
	published.Store(map[string]*rsa.PrivateKey{"k1": k1})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		var doc struct {
			Keys []map[string]string `json:"keys"`
		}
		for kid, k := range published.Load().(map[string]*rsa.PrivateKey) {
			doc.Keys = append(doc.Keys, map[string]string{
				"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
			})
		}
		_ = json.NewEncoder(w).Encode(doc)
	}))
	defer srv.Close()

	v, err := NewVerifier(Config{JWKSURL: srv.URL})
	require.NoError(t, err)
	sign := func(kid string, k *rsa.PrivateKey) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "idp|42", "email": "x@example.com",
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		require.NoError(t, err)
		return s
	}
	ctx := context.Background()
	p, err := v.Verify(ctx, sign("k1", k1))
	require.NoError(t, err)
	require.Equal(t, "idp|42", p.UserID)

	_, err = v.Verify(ctx, sign("k1", k2))
	require.ErrorIs(t, err, ErrUnauthenticated, "a key id with the wrong key")
	_, err = v.Verify(ctx, sign("k9", k2))
	require.ErrorIs(t, err, ErrUnauthenticated, "an unknown key id")
	require.EqualValues(t, 1, fetches.Load(), "unknown key ids do not hammer the provider")

	// HS256 with the public key as secret (the classic confusion attack) is refused: only RS256 is configured.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "evil", "exp": time.Now().Add(time.Hour).Unix()})
	forged, err := hs.SignedString(k1.N.Bytes())
	require.NoError(t, err)
	_, err = v.Verify(ctx, forged)
	require.ErrorIs(t, err, ErrUnauthenticated)

	// Rotation: the provider publishes k2; once the refresh window has passed, k2 tokens verify.
	published.Store(map[string]*rsa.PrivateKey{"k2": k2})
	v.jwks.mu.Lock()
	v.jwks.fetched = time.Now().Add(-2 * jwksMinRefresh)
	v.jwks.mu.Unlock()
	_, err = v.Verify(ctx, sign("k2", k2))
	require.NoError(t, err)
}

func TestEmailVerifiedClaim(t *testing.T) {
	t.Parallel()
	secret := []byte("email-verified-test-secret-32byt")
	v, err := NewVerifier(Config{HS256Secret: secret})
	require.NoError(t, err)
	for claim, want := range map[any]bool{true: true, "true": true, false: false, "false": false, "yes": false, 1: false} {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u", "email": "u@example.com",
			"email_verified": claim, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
		require.NoError(t, err)
		p, err := v.Verify(context.Background(), tok)
		require.NoError(t, err)
		require.Equal(t, want, p.EmailVerified, "%v", claim)
	}
}
