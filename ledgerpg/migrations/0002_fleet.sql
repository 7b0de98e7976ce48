-- lightmarket ledger, schema version 2: a fleet of servers shares the
-- ledger. Vouchers are credited by the transaction that stores them
-- (the channel's accepted amount only rises), accounts change by deltas,
-- one process at a time claims (a lease), and every claim is recorded
-- before its transaction is sent.

-- The fleet's payment identity: every server of the ledger announces it.
CREATE TABLE fleet (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    chain_id numeric(78,0) NOT NULL,
    contract bytea NOT NULL CHECK (length(contract) = 20),
    receiver bytea NOT NULL CHECK (length(receiver) = 20)
);

-- The servers of the fleet and what each took: credited is the wei its
-- vouchers credited, charged the wei it charged, vouchers how many it
-- acknowledged.
CREATE TABLE servers (
    id         text PRIMARY KEY,  -- node id
    credited   numeric(78,0) NOT NULL DEFAULT 0,
    charged    numeric(78,0) NOT NULL DEFAULT 0,
    vouchers   bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

-- Who acknowledged a voucher, for whom, and what it credited.
ALTER TABLE vouchers ADD COLUMN server text, ADD COLUMN client bytea, ADD COLUMN credited numeric(78,0);

-- Leases: the claimer's (name 'claimer') is held by one process at a
-- time and renewed well before it expires.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Claims, recorded (state 'sending', with the signed transaction's hash)
-- before the transaction is sent: a claimer taking over finds them and
-- waits for or settles them instead of claiming the same amount again.
CREATE TABLE claims (
    channel    bytea NOT NULL REFERENCES channels (id),
    amount     numeric(78,0) NOT NULL,  -- the voucher's cumulative amount
    claimer    text NOT NULL,
    tx         bytea NOT NULL CHECK (length(tx) = 32),
    state      text NOT NULL CHECK (state IN ('sending', 'mined', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, amount)
);
CREATE INDEX claims_sending ON claims (channel) WHERE state = 'sending';
