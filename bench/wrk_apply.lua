-- wrk script for bench/bench_http_decide.py: POST /api/applications with a fresh Idempotency-Key
-- per request, bodies from ZHIDA_BENCH_BODIES (one JSON object a line); counts answers by outcome.
local bodies = {}
for line in io.lines(os.getenv("ZHIDA_BENCH_BODIES")) do
  bodies[#bodies + 1] = line
end
local key = os.getenv("ZHIDA_BENCH_KEY")
local run = os.getenv("ZHIDA_BENCH_RUN")
local threads = {}

function setup(thread) -- runs in the main Lua state; each thread has its own state
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
  thread:set("stride", tonumber(os.getenv("ZHIDA_BENCH_THREADS"))) -- each thread takes every stride-th body
end

function init(args)
  counter = 0
  failed = 0
  first_failure = ""
  outcomes = {}
end

function request()
  counter = counter + 1
  local body = bodies[((counter * stride + tid) % #bodies) + 1]
  return wrk.format("POST", "/api/applications", {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("wrk-%s-%d-%d", run, tid, counter),
  }, body)
end

function response(status, headers, body)
  if status ~= 201 then
    failed = failed + 1
    if first_failure == "" then first_failure = status .. " " .. string.sub(body, 1, 200) end
    return
  end
  local outcome = string.match(body, '"outcome":%s*"([%a_]+)"') or "?"
  outcomes[outcome] = (outcomes[outcome] or 0) + 1
end

function done(summary, latency, requests)
  local failures, first = 0, ""
  local total = {}
  for _, t in ipairs(threads) do
    failures = failures + t:get("failed")
    if first == "" then first = t:get("first_failure") end
    for k, v in pairs(t:get("outcomes")) do total[k] = (total[k] or 0) + v end
  end
  io.write(string.format("zhida failed %d\n", failures))
  if first ~= "" then io.write("zhida first_failure " .. first .. "\n") end
  for k, v in pairs(total) do io.write(string.format("zhida outcome %s %d\n", k, v)) end
  io.write(string.format("zhida errors %d\n", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  io.write(string.format("zhida seconds %.3f\n", summary.duration / 1e6))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("zhida p%s %.3f\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("zhida max %.3f\n", latency.max / 1000))
end
