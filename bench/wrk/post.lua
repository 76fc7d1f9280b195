-- wrk script for `make bench`: POST the JSON body read from the file named by the first script
-- argument (wrk ... URL -- BODY_FILE), and print one machine-readable result line at the end.

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s post.lua URL -- BODY_FILE")
  end
  local file = assert(io.open(path, "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
  wrk.headers["anthropic-version"] = "2023-06-01"
  wrk.headers["x-api-key"] = "bench"
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
