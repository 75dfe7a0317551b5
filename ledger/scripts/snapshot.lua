-- A consistent picture of the whole sale at one instant: meta, then each SKU's counts.
-- KEYS: meta, stock(sku_1) .. stock(sku_n)
local reply = { redis.call('HMGET', KEYS[1], 'ledgerId', 'gen', 'seq', 'start', 'end', 'skus', 'halted') }
for i = 2, #KEYS do
  reply[#reply + 1] = redis.call('HMGET', KEYS[i], 'total', 'available', 'reserved', 'sold', 'indoubt', 'limit')
end
return reply
