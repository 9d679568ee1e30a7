-- wrk script for make scale-test: POST one prebuilt body at a steady pace (like bench/soak.lua) and count the answers
-- that were not 200; report p50/p90/p99/max and the mean latency. BENCH_BODY, BENCH_CONTENT_TYPE: the body and its
-- type. PAUSE_MS: pause of each connection before each request (fractional: rounded up or down at random).
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local pause = tonumber(os.getenv("PAUSE_MS") or "0")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failed = {} -- status -> count, per thread
end

function delay()
  local whole = math.floor(pause)
  if math.random() < pause - whole then
    return whole + 1
  end
  return whole
end

function response(status, headers, body)
  if status ~= 200 then
    failed[status] = (failed[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("failed")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local statuses = {}
  for status, count in pairs(counts) do
    table.insert(statuses, string.format('"%d": %d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'SCALE_JSON {"requests": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, "p50_us": %d, ' ..
    '"p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %d, "statuses": {%s}}\n',
    summary.requests, e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, table.concat(statuses, ", ")))
end
