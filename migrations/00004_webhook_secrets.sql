-- Webhook signing secrets, encrypted, outside the event log.
--
-- Until now webhook.registered/updated events held the secret in clear. The log is immutable,
-- hash-chained and readable by every member of a workspace (history, exports), so a secret written
-- there can never be withdrawn. From schema version 2 the events carry only a secret_id naming a
-- row here; version-1 events are upcast on read (the secret dropped, the id derived from the
-- webhook id) and their secret is copied here, encrypted, the first time delivery needs it.
--
-- The application encrypts with AES-256-GCM under WEBHOOK_SECRET_KEY: a dump of this database
-- (backups, a read replica, a support copy) does not reveal the secrets without the key, which
-- lives only in the service's configuration. The ciphertext is bound to its row (the GCM
-- additional data covers secret, webhook and workspace ids), so a row copied onto another webhook
-- does not open.

-- +goose Up
CREATE TABLE webhook_secrets (
    secret_id    uuid PRIMARY KEY,
    webhook_id   uuid NOT NULL,
    workspace_id uuid NOT NULL,
    -- which key sealed the row (a digest of the key, never the key): a changed key is reported as
    -- such rather than as corruption, and rows can be re-sealed under a new key later
    key_id       text NOT NULL,
    nonce        bytea NOT NULL,
    sealed       bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The side-effect module's copy of the endpoints held the secret in clear too: it now holds the id
-- of the current secret. NULL (rows folded from version-1 events before this migration) means the
-- webhook's legacy secret, see domain.LegacyWebhookSecretID.
ALTER TABLE webhook_endpoints ADD COLUMN secret_id uuid;
ALTER TABLE webhook_endpoints DROP COLUMN secret;

-- Workspace snapshots (format 1) held every webhook's secret; format 2 does not. Snapshots are a
-- cache rebuilt from the log, so dropping the old ones loses nothing.
DELETE FROM snapshots WHERE stream_id LIKE 'workspace-%';

-- last_error used to keep the receiver's response body and the dialer's error text, which names what
-- a host resolved to and the resolver's address: any workspace admin could read the service's
-- network through it. Keep only the short, fixed texts the workers write from now on.
UPDATE webhook_deliveries SET last_error = CASE
    WHEN last_error LIKE 'HTTP %' AND last_status_code IS NOT NULL THEN 'HTTP ' || last_status_code
    WHEN last_error LIKE '%not allowed%' THEN 'connect refused: private address'
    WHEN last_error IN ('endpoint removed', 'interrupted by shutdown') OR last_error LIKE 'attempt abandoned%' THEN last_error
    ELSE 'connection failed' END
WHERE last_error IS NOT NULL;

-- +goose Down
-- The secrets in clear cannot come back from ciphertext without the key: endpoints get an empty
-- secret, which fails signature checks loudly until each webhook's secret is set again.
ALTER TABLE webhook_endpoints ADD COLUMN secret text NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints DROP COLUMN secret_id;
DROP TABLE webhook_secrets;
