-- Expired pending reservations belong to a sidecar that died or lost Redis before it could settle
-- them. The request may already have reached the shop, so they become in-doubt, never released.
-- KEYS: meta, orders, pending, indoubt, stock(sku_1) .. stock(sku_n)   ARGV: batch, sku_1 .. sku_n
local k = { meta = KEYS[1], orders = KEYS[2], pending = KEYS[3], indoubt = KEYS[4] }
local stockKeys = {}
for i = 2, #ARGV do stockKeys[ARGV[i]] = KEYS[i + 3] end

local ids = redis.call('ZRANGEBYSCORE', k.pending, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
local moved = {}
for _, id in ipairs(ids) do
  local rec = redis.call('HGET', k.orders, id)
  local r = rec and parse_record(rec)
  if not r or r.state ~= 'pending' then
    redis.call('ZREM', k.pending, id) -- settled already; a stale index entry
  elseif stockKeys[r.sku] then
    k.stock = stockKeys[r.sku]
    to_in_doubt(k, id, r)
    moved[#moved + 1] = id
  end
end
if #moved > 0 then redis.call('HINCRBY', k.meta, 'seq', #moved) end
return moved
