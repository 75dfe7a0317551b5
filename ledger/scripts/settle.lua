-- Ends or parks a batch of reservations, in order: confirm (sold), release (back in stock) or
-- in-doubt (the upstream may have committed it; hold it until the shop says). Finished
-- reservations never change again. undo is a release that also forgets the reservation, so a retry
-- with the same key starts afresh: only for a reservation never forwarded (its write did not reach
-- enough replicas).
-- KEYS: meta, orders, pending, indoubt, then stock and users of each entry
-- ARGV: channel, then id, sku, action, outcome of each entry
-- Reply: one {outcome, ...details} per entry; see ledger/outcomes.ts.
local meta, orders, pending, indoubt = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local channel = ARGV[1]
local changed = 0
local recorded = false -- an entry rewrote its record in orders

local function settle(stock, users, id, sku, action, outcome)
  -- The orders hash expires after the retention period; the in-doubt index does not.
  local rec = redis.call('HGET', orders, id) or redis.call('HGET', indoubt, id)
  if not rec then return { 'unknown' } end
  local r = parse_record(rec)
  if r.sku ~= sku then return { 'wrong-sku', r.sku } end
  local target = ({ confirm = 'confirmed', release = 'released' })[action] or action
  if r.state == target then return { 'unchanged', r.state } end
  if r.state == 'confirmed' or r.state == 'released' then return { 'conflict', r.state } end

  local from = r.state
  changed = changed + 1
  if action == 'in-doubt' then
    -- Only a pending reservation can become in-doubt (in-doubt -> in-doubt returned above).
    to_in_doubt({ stock = stock, pending = pending, orders = orders, indoubt = indoubt }, id, r)
    return { 'settled', from, r.state }
  end
  redis.call('HINCRBY', stock, 'reserved', -r.qty)
  if from == 'in-doubt' then
    redis.call('HINCRBY', stock, 'indoubt', -r.qty)
    redis.call('HDEL', indoubt, id)
  else
    redis.call('ZREM', pending, id)
  end
  if action == 'confirm' then
    r.state = 'confirmed'
    redis.call('HINCRBY', stock, 'sold', r.qty)
  else
    r.state = 'released'
    local available = redis.call('HINCRBY', stock, 'available', r.qty)
    if redis.call('HINCRBY', users, r.user, -r.qty) <= 0 then redis.call('HDEL', users, r.user) end
    if available == r.qty then publish(channel, 'restock', sku) end
  end
  if action == 'undo' then
    redis.call('HDEL', orders, id, id .. '#outcome')
    return { 'settled', from, 'released' }
  end
  redis.call('HSET', orders, id, format_record(r))
  if outcome ~= '' then redis.call('HSET', orders, id .. '#outcome', outcome) end
  recorded = true
  return { 'settled', from, r.state }
end

local replies = {}
for i = 1, (#ARGV - 1) / 4 do
  local a = 2 + 4 * (i - 1)
  replies[i] = settle(KEYS[3 + 2 * i], KEYS[4 + 2 * i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
end
if recorded then
  -- Once per batch, as reserve does: the records live for the sale plus the retention period.
  local expireAt = redis.call('HGET', meta, 'expireAt')
  if expireAt then redis.call('PEXPIREAT', orders, expireAt) end
end
if changed > 0 then redis.call('HINCRBY', meta, 'seq', changed) end
return replies
