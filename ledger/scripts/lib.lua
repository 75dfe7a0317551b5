-- Shared by every ledger script: the TypeScript side prepends this file to each script body, so
-- the reservation record format and state transitions are written once.
--
-- Reservation record (a field of the sale's orders hash, keyed by reservation id):
--   state|sku|quantity|expiresAtMs|user      (user last: it may contain '|')
-- States: pending, in-doubt (both count as reserved), confirmed (sold), released (back in stock).

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function parse_record(rec)
  local state, sku, qty, exp, user = string.match(rec, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return { state = state, sku = sku, qty = tonumber(qty), exp = tonumber(exp), user = user }
end

local function format_record(r)
  return r.state .. '|' .. r.sku .. '|' .. r.qty .. '|' .. r.exp .. '|' .. r.user
end

local function publish(channel, kind, sku)
  redis.call('PUBLISH', channel, '{"type":"' .. kind .. '","sku":"' .. sku .. '"}')
end

-- Moves a pending reservation to in-doubt: its units stay reserved (never resold blindly) and it
-- joins the in-doubt index, which outlives the orders hash so it can always be settled.
local function to_in_doubt(k, id, r)
  r.state = 'in-doubt'
  local rec = format_record(r)
  redis.call('HINCRBY', k.stock, 'indoubt', r.qty)
  redis.call('ZREM', k.pending, id)
  redis.call('HSET', k.orders, id, rec)
  redis.call('HSET', k.indoubt, id, rec)
end
