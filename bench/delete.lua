-- wrk script for DELETE /v1/social-accounts/{id}, configured by environment variables:
--   BENCH_AUTH      "Bearer <secret>" or empty (no Authorization header: the 401 path)
--   BENCH_ID        one account id, used for every request (the 401 and 404 paths)
--   BENCH_IDS_FILE  a file of account ids, one a line: each request takes the next (the 200 path)
--   BENCH_OFFSET    where in BENCH_IDS_FILE this run starts (so rounds never reuse an id)
--   BENCH_PREFER    a Prefer header (Prism only: "code=404" forces its 404 example)
--   BENCH_KEYS_FILE a file of key secrets, one a line: each request takes the next (keys in
--                   rotation, e.g. partner-tier keys, so that no key's rate window runs out);
--                   overrides BENCH_AUTH
--   BENCH_KEYS_OFFSET where in BENCH_KEYS_FILE this run starts, on top of BENCH_OFFSET (several wrk
--                   at once, one per instance, each start elsewhere in the keys: in lock-step
--                   they would send the same key to both instances at the same moment)
-- done() prints one JSON line (prefix "BENCH_JSON ") with throughput, latency and status counts.
local prefix = "/v1/social-accounts/"
local auth = os.getenv("BENCH_AUTH") or ""
local prefer = os.getenv("BENCH_PREFER") or ""
local one_id = os.getenv("BENCH_ID")
local ids_file = os.getenv("BENCH_IDS_FILE")
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local keys_file = os.getenv("BENCH_KEYS_FILE")
local keys_offset = tonumber(os.getenv("BENCH_KEYS_OFFSET") or "0")

local ids = {}
local n_ids = 0
local i = 0
local keys = {}
local n_keys = 0
local k = 0
local headers = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "DELETE"
  wrk.headers["Accept"] = "application/json"
  if auth ~= "" then wrk.headers["Authorization"] = auth end
  if prefer ~= "" then wrk.headers["Prefer"] = prefer end
  if ids_file and ids_file ~= "" then
    for line in io.lines(ids_file) do
      n_ids = n_ids + 1
      ids[n_ids] = line
    end
  end
  if keys_file and keys_file ~= "" then
    for line in io.lines(keys_file) do
      n_keys = n_keys + 1
      keys[n_keys] = "Bearer " .. line
    end
  end
  for name, value in pairs(wrk.headers) do headers[name] = value end
  i = offset
  if n_keys > 0 then k = (offset + keys_offset) % n_keys end
  s200, s401, s404, s429, s5xx, other = 0, 0, 0, 0, 0, 0
end

function request()
  local id = one_id
  if n_ids > 0 then
    i = i + 1
    if i > n_ids then i = 1 end
    id = ids[i]
  end
  if n_keys > 0 then
    k = k + 1
    if k > n_keys then k = 1 end
    headers["Authorization"] = keys[k]
    return wrk.format(nil, prefix .. id, headers)
  end
  return wrk.format(nil, prefix .. id)
end

function response(status, headers, body)
  if status == 200 then s200 = s200 + 1
  elseif status == 401 then s401 = s401 + 1
  elseif status == 404 then s404 = s404 + 1
  elseif status == 429 then s429 = s429 + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local t = {s200 = 0, s401 = 0, s404 = 0, s429 = 0, s5xx = 0, other = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"mean_us":%.1f,"socket_errors":%d,"s200":%d,"s401":%d,"s404":%d,"s429":%d,"s5xx":%d,"other":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean,
    e.connect + e.read + e.write + e.timeout,
    t.s200, t.s401, t.s404, t.s429, t.s5xx, t.other))
end
