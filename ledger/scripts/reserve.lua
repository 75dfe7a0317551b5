-- Reserves units for a batch of checkouts, atomically and idempotently, in order: each entry
-- answers as if it were its own call (a later entry sees what an earlier one reserved). A batch
-- holds the checkouts one sidecar received in one event-loop turn (ledger/batch.ts).
-- KEYS: meta, orders, pending, then stock and users of each entry
-- ARGV: channel, then id, sku, user, qty, ttlMs of each entry
-- Reply: one {outcome, ...details} per entry; see ledger/outcomes.ts.
local meta, orders, pending = KEYS[1], KEYS[2], KEYS[3]
local channel = ARGV[1]
local m = redis.call('HMGET', meta, 'start', 'end', 'expireAt', 'halted')
local now = now_ms()
local reserved = 0

local function reserve(stock, users, id, sku, user, qty, ttl)
  -- Idempotency first: a repeated id answers as the first request did, even after the window.
  local rec = redis.call('HGET', orders, id)
  if rec then
    local r = parse_record(rec)
    if r.sku ~= sku or r.qty ~= qty or r.user ~= user then
      return { 'key-reused', r.sku, r.qty }
    end
    if r.state == 'pending' or r.state == 'in-doubt' then
      return { 'in-progress', r.state, r.exp }
    end
    return { 'replay', r.state, redis.call('HGET', orders, id .. '#outcome') or '' }
  end

  -- The operator halted a ledger it cannot trust (ledger/scripts/halt.lua): sell nothing from it.
  if m[4] then return { 'halted', m[4] } end
  if not m[1] then return { 'no-sale' } end
  if now < tonumber(m[1]) then return { 'not-started', tonumber(m[1]) } end
  if now >= tonumber(m[2]) then return { 'ended', tonumber(m[2]) } end

  local s = redis.call('HMGET', stock, 'available', 'limit')
  if not s[1] then return { 'unknown-sku' } end
  local available, limit = tonumber(s[1]), tonumber(s[2])
  if available < qty then return { 'sold-out', available } end
  local held = tonumber(redis.call('HGET', users, user) or '0')
  if held + qty > limit then return { 'user-limit', limit, held } end

  local exp = now + ttl
  redis.call('HINCRBY', stock, 'available', -qty)
  redis.call('HINCRBY', stock, 'reserved', qty)
  redis.call('HINCRBY', users, user, qty)
  redis.call('HSET', orders, id, format_record({ state = 'pending', sku = sku, qty = qty, exp = exp, user = user }))
  redis.call('ZADD', pending, exp, id)
  -- Idempotency records and per-user holdings live for the sale plus the retention period.
  redis.call('PEXPIREAT', users, m[3])
  reserved = reserved + 1
  if available == qty then publish(channel, 'sold-out', sku) end
  return { 'reserved', exp, available - qty }
end

local replies = {}
for i = 1, (#ARGV - 1) / 5 do
  local a = 2 + 5 * (i - 1)
  replies[i] = reserve(KEYS[2 + 2 * i], KEYS[3 + 2 * i], ARGV[a], ARGV[a + 1], ARGV[a + 2],
    tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]))
end
if reserved > 0 then
  redis.call('PEXPIREAT', orders, m[3])
  redis.call('HINCRBY', meta, 'seq', reserved)
end
return replies
