-- lightmarket ledger, schema version 3: a voucher row no longer checks its
-- channel with a foreign key. The transaction that inserts it has locked
-- the channel's row (SELECT … FOR UPDATE) and raised its accepted amount
-- to the voucher's, and channels are never deleted: the per-row trigger
-- that checked it again was work without a purpose on every voucher.
ALTER TABLE vouchers DROP CONSTRAINT IF EXISTS vouchers_channel_fkey;
