-- wrk script for scripts/bench/proxy.sh: POST a small chat-completions body to every URL
-- and print one machine-readable line when the run ends.
--   BENCH_MODEL  model name in the body (default bench-model)
--   BENCH_AUTH   if set, sent as "Authorization: Bearer $BENCH_AUTH" (LiteLLM needs a key)
--   BENCH_TAG    free text copied into the result line (target=..., conc=...)

local model = os.getenv("BENCH_MODEL") or "bench-model"
local auth = os.getenv("BENCH_AUTH")
local tag = os.getenv("BENCH_TAG") or ""

wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
if auth and auth ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. auth
end
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are terse."},'
   .. '{"role":"user","content":"Say hello in five words."}],"max_tokens":16,"temperature":0}'

-- Latencies are in microseconds; the line is parsed by scripts/bench/report.py.
function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "RESULT kind=wrk %s requests=%d secs=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d "
         .. "max_us=%d mean_us=%.1f err_connect=%d err_read=%d err_write=%d err_timeout=%d non2xx=%d\n",
      tag, summary.requests, secs, summary.requests / secs,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      e.connect, e.read, e.write, e.timeout, e.status))
end
