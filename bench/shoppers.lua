-- wrk script for `npm run bench -- storm`: every request is a new shopper checking out one unit,
-- with its own x-user-id and Idempotency-Key, so admits are unique users.
--
--   wrk -s bench/shoppers.lua URL -- RUN_ID SKU MODE [THINK_MS]
--
-- MODE "guarded" talks to the sidecar; "direct" talks to the shop itself and plays the sidecar's
-- part by sending the reservation header. THINK_MS > 0 paces each connection with exponential
-- think times of that mean (wrk has no -R): many connections that mostly think make arrivals
-- close to a Poisson process at connections / THINK_MS. wrk starts latency at the write, so
-- think time is not counted in it.
-- done() prints one line, "wrk-result {json}", for the benchmark to read.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local prefix, body, direct
local sent = 0
local headers = { ["content-type"] = "application/json" }

function init(args)
  prefix = args[1] .. "-" .. thread_id .. "-"
  body = '{"sku":"' .. args[2] .. '","quantity":1}'
  direct = args[3] == "direct"
  local think = tonumber(args[4]) or 0
  if think > 0 then
    math.randomseed(thread_id)
    function delay()
      return -think * math.log(1 - math.random())
    end
  end
end

function request()
  sent = sent + 1
  local id = prefix .. sent
  headers["x-user-id"] = id
  headers["idempotency-key"] = id
  if direct then
    headers["x-flashguard-reservation"] = id
  end
  return wrk.format("POST", "/checkout", headers, body)
end

function done(summary, latency)
  local e = summary.errors
  io.write(string.format(
    'wrk-result {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
