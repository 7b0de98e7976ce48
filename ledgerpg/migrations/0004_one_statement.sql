-- lightmarket ledger, schema version 4: vouchers of distinct channels are
-- credited by one statement.
--
-- A channel records what its latest accepted voucher credited: the UPDATE
-- that raises a channel's accepted amount computes the credit from the
-- row it holds and returns it, with no SELECT … FOR UPDATE before it.
ALTER TABLE channels ADD COLUMN last_credit numeric(78,0) NOT NULL DEFAULT 0;

-- The voucher log loses its key (channel, amount): a voucher row is
-- written only by the statement that raised its channel's accepted
-- amount to the voucher's, on the channel's locked row, and the accepted
-- amount only rises, so no pair is written twice; checking it again cost
-- a B-tree insertion on every voucher (about a seventh of the database's
-- work per voucher). The ledger never reads the log; an operator who
-- looks vouchers up by channel can add an index of his own.
ALTER TABLE vouchers DROP CONSTRAINT IF EXISTS vouchers_pkey;
