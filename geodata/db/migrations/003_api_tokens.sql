-- Tokens for writes and administration. Only a SHA-256 of each token is stored: the token
-- itself is shown once, when it is created.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (length(trim(name)) > 0),
    role         text NOT NULL CHECK (role IN ('analyst', 'planner', 'commander', 'operator', 'admin')),
    token_sha256 bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
