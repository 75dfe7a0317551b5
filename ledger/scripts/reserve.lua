-- Reserves `qty` units of one SKU for one user, atomically and idempotently.
-- KEYS: meta, stock, users, orders, pending      ARGV: id, sku, user, qty, ttlMs, channel
-- Reply: {outcome, ...details}; see ledger/outcomes.ts.
local k = { meta = KEYS[1], stock = KEYS[2], users = KEYS[3], orders = KEYS[4], pending = KEYS[5] }
local id, sku, user = ARGV[1], ARGV[2], ARGV[3]
local qty, ttl, channel = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]

-- Idempotency first: a repeated id answers as the first request did, even after the window.
local rec = redis.call('HGET', k.orders, id)
if rec then
  local r = parse_record(rec)
  if r.sku ~= sku or r.qty ~= qty or r.user ~= user then
    return { 'key-reused', r.sku, r.qty }
  end
  if r.state == 'pending' or r.state == 'in-doubt' then
    return { 'in-progress', r.state, r.exp }
  end
  return { 'replay', r.state, redis.call('HGET', k.orders, id .. '#outcome') or '' }
end

local m = redis.call('HMGET', k.meta, 'start', 'end', 'expireAt')
if not m[1] then return { 'no-sale' } end
local now = now_ms()
if now < tonumber(m[1]) then return { 'not-started', tonumber(m[1]) } end
if now >= tonumber(m[2]) then return { 'ended', tonumber(m[2]) } end

local s = redis.call('HMGET', k.stock, 'available', 'limit')
if not s[1] then return { 'unknown-sku' } end
local available, limit = tonumber(s[1]), tonumber(s[2])
if available < qty then return { 'sold-out', available } end
local held = tonumber(redis.call('HGET', k.users, user) or '0')
if held + qty > limit then return { 'user-limit', limit, held } end

local exp = now + ttl
redis.call('HINCRBY', k.stock, 'available', -qty)
redis.call('HINCRBY', k.stock, 'reserved', qty)
redis.call('HINCRBY', k.users, user, qty)
redis.call('HSET', k.orders, id, format_record({ state = 'pending', sku = sku, qty = qty, exp = exp, user = user }))
redis.call('ZADD', k.pending, exp, id)
-- Idempotency records and per-user holdings live for the sale plus the retention period.
redis.call('PEXPIREAT', k.orders, m[3])
redis.call('PEXPIREAT', k.users, m[3])
redis.call('HINCRBY', k.meta, 'seq', 1)
if available == qty then publish(channel, 'sold-out', sku) end
return { 'reserved', exp, available - qty }
