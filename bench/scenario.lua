-- wrk script of the benchmark: replays a file of requests and prints a JSON summary.
--
--   wrk -t1 -c16 -d10s --timeout 30s -s bench/scenario.lua http://127.0.0.1:PORT \
--       -- REQUESTS_FILE TOKEN SALT
--
-- REQUESTS_FILE holds one request a line: METHOD<TAB>PATH<TAB>BODY (BODY may be
-- empty). Each thread starts at its own offset and walks the lines in a loop. "{n}"
-- in a path or body becomes a value unique to the request (SALT, thread and counter),
-- for creations. done() prints one line "WRKJSON {...}" that bench/run.py reads.

local lines = {}
local static = {}
local pos = 1
local counter = 0
local tid = 0
local token = ""
local salt = ""

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
end

function init(args)
  token = args[2] or ""
  salt = args[3] or ""
  tid = tonumber(wrk.thread:get("tid")) or 1
  for line in io.lines(args[1]) do
    local method, path, body = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
    if method then
      lines[#lines + 1] = {method, path, body}
    end
  end
  if #lines == 0 then
    error("no request in " .. args[1])
  end
  for i, l in ipairs(lines) do
    if not (l[2]:find("{n}", 1, true) or l[3]:find("{n}", 1, true)) then
      static[i] = format(l[1], l[2], l[3])
    end
  end
  math.randomseed(tid * 7919)
  pos = math.random(#lines)
end

function format(method, path, body)
  local headers = {["Authorization"] = "Bearer " .. token}
  if body ~= "" then
    headers["Content-Type"] = "application/scim+json"
  else
    body = nil
  end
  return wrk.format(method, path, headers, body)
end

function request()
  local i = pos
  pos = pos + 1
  if pos > #lines then
    pos = 1
  end
  if static[i] then
    return static[i]
  end
  counter = counter + 1
  local uniq = salt .. tid .. "x" .. counter
  local l = lines[i]
  return format(l[1], (l[2]:gsub("{n}", uniq)), (l[3]:gsub("{n}", uniq)))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0),
    latency.max, latency.mean))
end
