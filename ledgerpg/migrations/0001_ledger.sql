-- lightmarket ledger, schema version 1: a server's payment channels, its
-- clients' accounts and every voucher it acknowledged. Amounts are wei,
-- exact (numeric(78,0) holds any uint256).

CREATE TABLE channels (
    id          bytea PRIMARY KEY CHECK (length(id) = 32),
    sender      bytea NOT NULL CHECK (length(sender) = 20),
    nonce       numeric(20,0) NOT NULL,
    -- The cumulative amount of the latest voucher accepted and its
    -- signature (NULL before the first).
    accepted    numeric(78,0) NOT NULL,
    voucher_sig bytea CHECK (voucher_sig IS NULL OR length(voucher_sig) = 65),
    -- The channel on chain, as last read.
    deposit     numeric(78,0) NOT NULL,
    claimed     numeric(78,0) NOT NULL,
    close_at    numeric(20,0) NOT NULL,  -- unix seconds; 0 while open
    finished    boolean NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    client     bytea PRIMARY KEY CHECK (length(client) = 32),  -- node id
    credited   numeric(78,0) NOT NULL,  -- paid with vouchers
    granted    numeric(78,0) NOT NULL,  -- given by the operator
    charged    numeric(78,0) NOT NULL,  -- charged for capacity-time and requests
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every voucher acknowledged, in the transaction that acknowledged it.
CREATE TABLE vouchers (
    channel   bytea NOT NULL REFERENCES channels (id),
    amount    numeric(78,0) NOT NULL,
    sig       bytea NOT NULL CHECK (length(sig) = 65),
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, amount)
);
