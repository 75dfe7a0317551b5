-- Ends or parks a reservation: confirm (sold), release (back in stock) or in-doubt (the upstream
-- may have committed it; hold it until the shop says). Finished reservations never change again.
-- undo is a release that also forgets the reservation, so a retry with the same key starts afresh:
-- only for a reservation never forwarded (its write did not reach enough replicas).
-- KEYS: meta, stock, users, orders, pending, indoubt   ARGV: id, sku, action, outcome, channel
local k = { meta = KEYS[1], stock = KEYS[2], users = KEYS[3], orders = KEYS[4], pending = KEYS[5], indoubt = KEYS[6] }
local id, sku, action, outcome, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

-- The orders hash expires after the retention period; the in-doubt index does not.
local rec = redis.call('HGET', k.orders, id) or redis.call('HGET', k.indoubt, id)
if not rec then return { 'unknown' } end
local r = parse_record(rec)
if r.sku ~= sku then return { 'wrong-sku', r.sku } end
local target = ({ confirm = 'confirmed', release = 'released' })[action] or action
if r.state == target then return { 'unchanged', r.state } end
if r.state == 'confirmed' or r.state == 'released' then return { 'conflict', r.state } end

local from = r.state
if action == 'in-doubt' then
  -- Only a pending reservation can become in-doubt (in-doubt -> in-doubt returned above).
  to_in_doubt(k, id, r)
else
  redis.call('HINCRBY', k.stock, 'reserved', -r.qty)
  if from == 'in-doubt' then
    redis.call('HINCRBY', k.stock, 'indoubt', -r.qty)
    redis.call('HDEL', k.indoubt, id)
  else
    redis.call('ZREM', k.pending, id)
  end
  if action == 'confirm' then
    r.state = 'confirmed'
    redis.call('HINCRBY', k.stock, 'sold', r.qty)
  else
    r.state = 'released'
    local available = redis.call('HINCRBY', k.stock, 'available', r.qty)
    if redis.call('HINCRBY', k.users, r.user, -r.qty) <= 0 then redis.call('HDEL', k.users, r.user) end
    if available == r.qty then publish(channel, 'restock', sku) end
  end
  if action == 'undo' then
    redis.call('HDEL', k.orders, id, id .. '#outcome')
    redis.call('HINCRBY', k.meta, 'seq', 1)
    return { 'settled', from, 'released' }
  end
  redis.call('HSET', k.orders, id, format_record(r))
  if outcome ~= '' then redis.call('HSET', k.orders, id .. '#outcome', outcome) end
  local expireAt = redis.call('HGET', k.meta, 'expireAt')
  if expireAt then redis.call('PEXPIREAT', k.orders, expireAt) end
end
redis.call('HINCRBY', k.meta, 'seq', 1)
return { 'settled', from, r.state }
