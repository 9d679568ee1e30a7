-- wrk script for the soak: POST one prebuilt body at a steady pace, and count the answers that were not 200.
-- BENCH_BODY, BENCH_CONTENT_TYPE, BENCH_HEADER_LENGTH: as in post.lua.
-- SOAK_DELAY_MS: pause of each connection before each request (fractional: rounded up or down at random, so that
-- the average is exact although wrk's timers count whole milliseconds).
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local header_length = os.getenv("BENCH_HEADER_LENGTH")
if header_length and header_length ~= "" then
  wrk.headers["Inference-Header-Content-Length"] = header_length
end
local pause = tonumber(os.getenv("SOAK_DELAY_MS") or "0")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failed = {}     -- status -> count, per thread
  first_body = {} -- status -> the first body seen with it
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
    if first_body[status] == nil then
      first_body[status] = string.sub(body or "", 1, 300)
    end
  end
end

local function json_string(text)
  return '"' .. string.gsub(text, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local counts, bodies = {}, {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("failed")) do
      counts[status] = (counts[status] or 0) + count
    end
    for status, body in pairs(thread:get("first_body")) do
      bodies[status] = bodies[status] or body
    end
  end
  local statuses = {}
  for status, count in pairs(counts) do
    table.insert(statuses, string.format('"%d": {"count": %d, "body": %s}', status, count, json_string(bodies[status])))
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, table.concat(statuses, ", ")))
end
