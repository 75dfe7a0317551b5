-- Publishes a sale event from the sale's own slot, so on a Redis Cluster every event of a sale
-- leaves from one node and subscribers see them in order; with a config, stores it first.
-- KEYS: config   ARGV: channel, message, config ('' = leave the config as it is)
if ARGV[3] ~= '' then redis.call('SET', KEYS[1], ARGV[3]) end
return redis.call('PUBLISH', ARGV[1], ARGV[2])
