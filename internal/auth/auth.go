// Package auth owns API authentication: verifying bearer JWTs (HS256 with a shared secret for
// development and simple deployments, RS256 with keys from an identity provider's JWKS URL) into a
// Principal, and minting development tokens. Authorization (roles) is not here: it is decided
// against the workspace's event-sourced state by the command handlers and by the API's directives.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Principal is the authenticated caller.
type Principal struct {
	UserID string // the token subject
	Email  string
	Name   string
	// EmailVerified is the email_verified claim: the issuer vouches that the user controls Email.
	EmailVerified bool
	// Roles are the token's service-wide roles (the taskforge_role claim, a string or a list),
	// such as RoleOperator. Workspace roles are not here: they live in the event-sourced state.
	Roles []string
	// ExpiresAt is the token's exp claim: a long-lived connection authenticated by the token
	// (a subscription websocket) ends then.
	ExpiresAt time.Time
}

// RoleOperator in a token's taskforge_role claim makes its holder an operator, who may read
// cross-tenant operational data (as may the subjects configured in TASKFORGE_OPERATORS).
const RoleOperator = "operator"

// HasRole reports whether the token carries the service-wide role.
func (p Principal) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// ErrUnauthenticated is wrapped by every verification failure; the API maps it to UNAUTHENTICATED.
// The wrapped detail is for logs, not for clients.
var ErrUnauthenticated = errors.New("unauthenticated")

// Config selects the accepted tokens. At least one of HS256Secret and JWKSURL is required.
type Config struct {
	HS256Secret []byte        // JWT_SECRET
	JWKSURL     string        // JWT_JWKS_URL, for RS256 tokens from an identity provider
	Issuer      string        // JWT_ISSUER: required iss claim when set
	Audience    string        // JWT_AUDIENCE: required aud claim when set
	Leeway      time.Duration // clock skew allowed on exp/nbf/iat
	HTTPClient  *http.Client  // for the JWKS; nil means a client with a 5 s timeout
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	jwks   *jwks
	parser *jwt.Parser
}

// NewVerifier validates cfg and returns a verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.HS256Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: set JWT_SECRET or JWT_JWKS_URL")
	}
	if len(cfg.HS256Secret) > 0 && len(cfg.HS256Secret) < 32 {
		return nil, errors.New("auth: JWT_SECRET must be at least 32 bytes")
	}
	var methods []string
	if len(cfg.HS256Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	v := &Verifier{cfg: cfg}
	if cfg.JWKSURL != "" {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 5 * time.Second}
		}
		v.jwks = newJWKS(cfg.JWKSURL, client)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods), // never "none", never a method the config did not ask for
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

type claims struct {
	jwt.RegisteredClaims
	Email         string           `json:"email,omitempty"`
	EmailVerified claimBool        `json:"email_verified,omitempty"`
	Name          string           `json:"name,omitempty"`
	Roles         jwt.ClaimStrings `json:"taskforge_role,omitempty"`
}

// claimBool reads a boolean claim sent as true or as "true" (some providers, e.g. Cognito, send
// strings); anything else is false.
type claimBool bool

func (b *claimBool) UnmarshalJSON(data []byte) error {
	s := string(data)
	*b = claimBool(s == "true" || s == `"true"`)
	return nil
}

// Verify checks a raw token and returns its principal.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case jwt.SigningMethodHS256.Alg():
			return v.cfg.HS256Secret, nil
		case jwt.SigningMethodRS256.Alg():
			kid, _ := t.Header["kid"].(string)
			return v.jwks.key(ctx, kid)
		}
		return nil, fmt.Errorf("unexpected signing method %s", t.Method.Alg())
	})
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if c.Subject == "" || len(c.Subject) > 200 {
		return Principal{}, fmt.Errorf("%w: token has no usable subject", ErrUnauthenticated)
	}
	p := Principal{UserID: c.Subject, Email: c.Email, Name: c.Name, Roles: []string(c.Roles),
		EmailVerified: bool(c.EmailVerified)}
	if c.ExpiresAt != nil { // required by the parser; checked anyway
		p.ExpiresAt = c.ExpiresAt.Time
	}
	return p, nil
}

// ValidUntil is when p's token stops verifying: its expiry plus the allowed clock skew.
func (v *Verifier) ValidUntil(p Principal) time.Time {
	return p.ExpiresAt.Add(v.cfg.Leeway)
}

// FromRequest verifies the request's bearer token. ok is false when there is none (an anonymous
// request); err is set when there is one and it does not verify.
func (v *Verifier) FromRequest(r *http.Request) (p Principal, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, false, nil
	}
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, false, fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", ErrUnauthenticated)
	}
	p, err = v.Verify(r.Context(), strings.TrimSpace(token))
	return p, err == nil, err
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// MintHS256 signs a development token for p (with its Roles), valid for ttl; p.ExpiresAt is
// ignored.
func MintHS256(secret []byte, p Principal, ttl time.Duration, now time.Time, issuer, audience string) (string, error) {
	if len(secret) < 32 {
		return "", errors.New("auth: JWT_SECRET must be at least 32 bytes")
	}
	if p.UserID == "" || ttl <= 0 {
		return "", errors.New("auth: a token needs a user and a positive lifetime")
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   p.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			Issuer:    issuer,
		},
		Email:         p.Email,
		Name:          p.Name,
		Roles:         p.Roles,
		EmailVerified: claimBool(p.EmailVerified),
	}
	if audience != "" {
		c.Audience = jwt.ClaimStrings{audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
