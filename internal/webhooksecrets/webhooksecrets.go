// Package webhooksecrets keeps webhook signing secrets out of the event log: encrypted with
// AES-256-GCM under a key from the configuration (WEBHOOK_SECRET_KEY), in the webhook_secrets table
// (migrations/00004_webhook_secrets.sql). Events name a secret by its id only.
//
//	registerWebhook / rotateWebhookSecret ──Put──▶ webhook_secrets (sealed) ◀──Get── webhook signer
//	        │ event: {webhook_id, secret_id}                        ▲            (at delivery, no tx open)
//	        ▼                                                      │ first Get of a legacy id:
//	      events ─ version-1 rows hold the secret in clear ────────┘ copied here, sealed
//
// Secrets leave this package in three ways only: to the signer, once to the admin who set or
// rotated one (the mutation's payload), and masked (Mask) to admins listing webhooks.
//
// The package talks SQL (the secrets are not events) and reads the events table directly in one
// place: the stored version-1 rows, whose secret upcasting hides from every other reader.
package webhooksecrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/domain"
)

// KeySize is the length of WEBHOOK_SECRET_KEY: AES-256.
const KeySize = 32

// ErrNotFound means no secret is stored under an id (nor, for a legacy id, in the log).
var ErrNotFound = errors.New("webhook secret not found")

// ErrWrongKey means a secret was sealed under a key other than the configured one.
var ErrWrongKey = errors.New("webhook secret sealed with another WEBHOOK_SECRET_KEY")

// Store seals, stores and opens webhook secrets. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	aead  cipher.AEAD
	keyID string
}

// New returns a store over pool sealing with key (KeySize bytes).
func New(pool *pgxpool.Pool, key []byte) (*Store, error) {
	if pool == nil {
		return nil, errors.New("webhooksecrets: nil pool")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("webhooksecrets: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhooksecrets: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webhooksecrets: %w", err)
	}
	sum := sha256.Sum256(append([]byte("taskforge webhook secret key id\x00"), key...))
	return &Store{pool: pool, aead: aead, keyID: hex.EncodeToString(sum[:8])}, nil
}

// ref names a secret and the webhook it belongs to.
type ref struct {
	SecretID    uuid.UUID
	WebhookID   uuid.UUID
	WorkspaceID uuid.UUID
}

// additional data: a sealed secret opens only on its own row.
func (r ref) aad() []byte {
	return []byte(r.SecretID.String() + "|" + r.WebhookID.String() + "|" + r.WorkspaceID.String())
}

// Put stores secret under secretID, sealed, and returns the secret stored there: secret itself,
// or, when a retried command stored the id already, the first one (so that the caller is shown the
// secret that signs).
func (s *Store) Put(ctx context.Context, workspaceID, webhookID, secretID uuid.UUID, secret string) (string, error) {
	return s.put(ctx, ref{SecretID: secretID, WebhookID: webhookID, WorkspaceID: workspaceID}, secret)
}

func (s *Store) put(ctx context.Context, ref ref, secret string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("store webhook secret: %w", err)
	}
	sealed := s.aead.Seal(nil, nonce, []byte(secret), ref.aad())
	// served by webhook_secrets_pkey
	tag, err := s.pool.Exec(ctx, `INSERT INTO webhook_secrets (secret_id, webhook_id, workspace_id, key_id, nonce, sealed)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (secret_id) DO NOTHING`,
		ref.SecretID, ref.WebhookID, ref.WorkspaceID, s.keyID, nonce, sealed)
	if err != nil {
		return "", fmt.Errorf("store webhook secret: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return secret, nil
	}
	return s.get(ctx, ref)
}

// Get returns the secret stored under secretID for that webhook. A webhook's legacy secret (ref.SecretID is
// domain.LegacyWebhookSecretID) is copied, sealed, from its latest version-1 event on first use.
func (s *Store) Get(ctx context.Context, workspaceID, webhookID, secretID uuid.UUID) (string, error) {
	return s.get(ctx, ref{SecretID: secretID, WebhookID: webhookID, WorkspaceID: workspaceID})
}

func (s *Store) get(ctx context.Context, ref ref) (string, error) {
	var (
		webhookID, workspaceID uuid.UUID
		keyID                  string
		nonce, sealed          []byte
	)
	// served by webhook_secrets_pkey
	err := s.pool.QueryRow(ctx, `SELECT webhook_id, workspace_id, key_id, nonce, sealed FROM webhook_secrets WHERE secret_id = $1`,
		ref.SecretID).Scan(&webhookID, &workspaceID, &keyID, &nonce, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		if ref.SecretID != domain.LegacyWebhookSecretID(ref.WebhookID) {
			return "", ErrNotFound
		}
		return s.migrateLegacy(ctx, ref)
	}
	if err != nil {
		return "", fmt.Errorf("read webhook secret: %w", err)
	}
	if webhookID != ref.WebhookID || workspaceID != ref.WorkspaceID {
		return "", ErrNotFound // another webhook's secret: never hand it out
	}
	if keyID != s.keyID {
		return "", ErrWrongKey
	}
	plain, err := s.aead.Open(nil, nonce, sealed, ref.aad())
	if err != nil {
		return "", fmt.Errorf("open webhook secret %s: authentication failed", ref.SecretID)
	}
	return string(plain), nil
}

// migrateLegacy seals the secret of the webhook's latest version-1 event. The secret of a later
// version-2 event never reaches here: that event names its own secret id.
func (s *Store) migrateLegacy(ctx context.Context, ref ref) (string, error) {
	var secret string
	// served by events_stream_version_key (one workspace stream, newest first)
	err := s.pool.QueryRow(ctx, `SELECT data->>'secret' FROM events
		WHERE stream_id = $1 AND event_type IN ($2, $3) AND schema_version = 1 AND data->>'webhook_id' = $4
		  AND data->>'secret' IS NOT NULL
		ORDER BY stream_version DESC LIMIT 1`,
		domain.WorkspaceStream(ref.WorkspaceID), domain.EventWebhookRegistered, domain.EventWebhookUpdated,
		ref.WebhookID.String()).Scan(&secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read legacy webhook secret: %w", err)
	}
	return s.put(ctx, ref, secret)
}

// Mask shows enough of a secret for an admin to tell which one a receiver holds: its prefix when
// it is the generated "whsec_" one, and its last four characters ("whsec_…k3Xz"). Secrets are at
// least 16 characters, so at most a quarter is shown.
func Mask(secret string) string {
	prefix := ""
	if strings.HasPrefix(secret, "whsec_") {
		prefix = "whsec_"
	}
	if utf8.RuneCountInString(secret) < domain.MinWebhookSecret {
		return prefix + "…"
	}
	r := []rune(secret)
	return prefix + "…" + string(r[len(r)-4:])
}

// ParseKey reads WEBHOOK_SECRET_KEY: 32 bytes as 64 hex digits or base64 (standard or URL, padded
// or not).
func ParseKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if len(v) == 2*KeySize {
		if b, err := hex.DecodeString(v); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("want %d bytes, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes as 64 hex digits or base64", KeySize)
}
