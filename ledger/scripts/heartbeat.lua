-- A sidecar says it is alive; the reply is how many sidecars are, so each can take its share of
-- the sale's admission rate. KEYS: sidecars   ARGV: sidecarId, ttlMs
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
