-- Stops a sale's ledger from reserving: the operator found it went back in time or was replaced,
-- so its counts cannot be trusted to sell from. Settlements still run, so checkouts in flight end
-- as the shop says; nothing else changes. A sale with no ledger is left alone.
-- KEYS: meta   ARGV: reason
-- Reply: 1 when halted now or before, 0 when there is no ledger.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'halted', ARGV[1])
return 1
