-- wrk script for benches/load/run.sh.
--
-- Without PIPELINE_DEPTH (or with 1) it leaves wrk's own request path alone
-- (no `request` function, so wrk sends its prebuilt request) and only adds a
-- machine-readable summary line. With PIPELINE_DEPTH=N (N > 1) every write
-- carries N copies of the request on the same connection (HTTP/1.1 pipelining).

local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "1") or 1

if depth > 1 then
  local batch

  init = function(args)
    local copies = {}
    for i = 1, depth do
      copies[i] = wrk.format()
    end
    batch = table.concat(copies)
  end

  request = function()
    return batch
  end
end

-- wrk answers 0 for a percentile it cannot place (it happens with few latency
-- samples, e.g. when pipelining records one sample per batch): report NA.
local function pct(latency, p)
  local v = latency:percentile(p)
  if v == 0 and latency.max > 0 then
    return "NA"
  end
  return string.format("%d", v)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RSGI-RESULT requests=%d duration_us=%d p50_us=%s p99_us=%s max_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration,
    pct(latency, 50.0), pct(latency, 99.0), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
