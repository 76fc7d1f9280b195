-- wrk script for `make bench`: POST the JSON body read from the file named by the first script
-- argument, with the request headers given as the following arguments, one "name: value" each
-- (wrk ... URL -- BODY_FILE 'content-type: application/json' 'x-api-key: ...'; bench/wrk.py builds
-- them, so arms that need their own headers, such as Portkey's routing headers, get them), and print
-- one machine-readable result line at the end.

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s post.lua URL -- BODY_FILE ['name: value' ...]")
  end
  local file = assert(io.open(path, "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  for i = 2, #args do
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    if name == nil then
      error("post.lua: header argument is not 'name: value': " .. args[i])
    end
    wrk.headers[name] = value
  end
end

-- Runs once in wrk's main thread after the run. The text report rounds percentiles to two
-- digits and units; this line keeps exact microseconds and separates the error kinds.
-- errors.status counts responses with status >= 400 (wrk's "Non-2xx or 3xx responses").
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "@@BENCH {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,"
      .. "\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"p999_us\":%d,"
      .. "\"mean_us\":%.2f,\"stdev_us\":%.2f,\"min_us\":%d,\"max_us\":%d,"
      .. "\"err_connect\":%d,\"err_read\":%d,\"err_write\":%d,\"err_status\":%d,\"err_timeout\":%d}\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.stdev, latency.min, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
