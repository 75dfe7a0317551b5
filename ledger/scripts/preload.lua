-- Loads a sale generation: window, per-SKU stock and per-user limits, all or nothing.
-- Idempotent per generation; never forgets sales already made; refuses to go below what is
-- reserved + sold; refuses to load over a ledger that was lost or rolled back (that would oversell).
-- KEYS: meta, stock(sku_1), users(sku_1), .., stock(sku_n), users(sku_n)
-- ARGV: gen, startMs, endMs, expireAtMs, newLedgerId, expectedLedgerId, minSeq, skusSeen, channel,
--       then per KEYS pair: sku, stock (-1 = remove the SKU), perUserLimit
local meta = KEYS[1]
local gen, startMs, endMs, expireAt = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local newLedgerId, expected, minSeq, skusSeen, channel = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9]

local m = redis.call('HMGET', meta, 'gen', 'ledgerId', 'seq', 'skus')
local ledgerId = m[2]
if not ledgerId then
  if expected ~= '' then return { 'ledger-lost', expected } end
  ledgerId = newLedgerId
else
  if expected ~= '' and ledgerId ~= expected then return { 'ledger-mismatch', ledgerId } end
  local seq = tonumber(m[3] or '0')
  if seq < minSeq then return { 'ledger-rolled-back', seq } end
  if (m[4] or '') ~= skusSeen then return { 'retry' } end
  local current = tonumber(m[1])
  if current > gen then return { 'stale-generation', current } end
  if current == gen then return { 'unchanged', ledgerId, seq } end
end

local items = {}
for i = 2, #KEYS, 2 do
  local a = 10 + (i - 2) / 2 * 3
  local it = { stock = KEYS[i], users = KEYS[i + 1], sku = ARGV[a], total = tonumber(ARGV[a + 1]), limit = ARGV[a + 2] }
  local s = redis.call('HMGET', it.stock, 'reserved', 'sold', 'available')
  it.exists = s[1] ~= false
  it.committed = tonumber(s[1] or '0') + tonumber(s[2] or '0')
  it.available = tonumber(s[3] or '0')
  -- Removing a SKU (stock -1) is lowering its stock to 0.
  if math.max(it.total, 0) < it.committed then return { 'below-committed', it.sku, it.committed } end
  items[#items + 1] = it
end

local skus = {}
for _, it in ipairs(items) do
  if it.total < 0 then
    redis.call('DEL', it.stock, it.users) -- nothing reserved or sold (checked above)
  else
    skus[#skus + 1] = it.sku
    local available = it.total - it.committed
    redis.call('HSET', it.stock, 'total', it.total, 'available', available, 'limit', it.limit)
    if not it.exists then redis.call('HSET', it.stock, 'reserved', 0, 'sold', 0, 'indoubt', 0) end
    if it.exists and it.available == 0 and available > 0 then publish(channel, 'restock', it.sku) end
    if it.exists and it.available > 0 and available == 0 then publish(channel, 'sold-out', it.sku) end
  end
end
redis.call('HSET', meta, 'gen', gen, 'start', startMs, 'end', endMs, 'expireAt', expireAt,
  'ledgerId', ledgerId, 'skus', table.concat(skus, ','))
local seq = redis.call('HINCRBY', meta, 'seq', 1)
return { 'loaded', ledgerId, seq }
