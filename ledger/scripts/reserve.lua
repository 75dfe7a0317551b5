-- Reserves units for a batch of checkouts, atomically and idempotently, in order: each entry
-- answers as if it were its own call (a later entry sees what an earlier one reserved). A batch
-- holds the checkouts one sidecar received in one event-loop turn (ledger/batch.ts).
-- KEYS: meta, orders, pending, then stock and users of each entry
-- ARGV: channel, the ledgerId and seq the caller last saw ('' and 0 for none), then id, sku,
--       user, qty, ttlMs of each entry
-- Reply: one {outcome, ...details} per entry (see ledger/outcomes.ts), then the ledgerId and the
--        seq after this call, for the caller to remember.
local meta, orders, pending = KEYS[1], KEYS[2], KEYS[3]
local channel, seenLedger, seenSeq = ARGV[1], ARGV[2], tonumber(ARGV[3])
local m = redis.call('HMGET', meta, 'start', 'end', 'expireAt', 'halted', 'ledgerId', 'seq')
local now = now_ms()
local reserved = 0
local seq = tonumber(m[6] or '0')

-- The ledger the caller saw, now with fewer mutations: Redis restarted from an older copy or
-- failed over to a replica that missed writes, so units already sold may be on sale again. Halt
-- it as the operator does (halt.lua), before anything is reserved from it.
if not m[4] and m[5] and m[5] == seenLedger and seq < seenSeq then
  m[4] = 'the ledger went back in time (seq ' .. seq .. ', a sidecar had seen ' .. seenSeq
    .. '): Redis restarted from an older state or failed over to a replica that missed writes'
  redis.call('HSET', meta, 'halted', m[4])
end

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
for i = 1, (#ARGV - 3) / 5 do
  local a = 4 + 5 * (i - 1)
  replies[i] = reserve(KEYS[2 + 2 * i], KEYS[3 + 2 * i], ARGV[a], ARGV[a + 1], ARGV[a + 2],
    tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]))
end
if reserved > 0 then
  redis.call('PEXPIREAT', orders, m[3])
  seq = redis.call('HINCRBY', meta, 'seq', reserved)
end
replies[#replies + 1] = m[5] or ''
replies[#replies + 1] = seq
return replies
