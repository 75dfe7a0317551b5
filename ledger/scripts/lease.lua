-- A lease so only one process per sale runs the reaper: taken when free, renewed by its holder.
-- KEYS: lease   ARGV: holder, ttlMs   Reply: 1 when `holder` holds the lease now, else 0.
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
