-- wrk script: the benchmark's chat request, stopping after N responses (N from the environment;
-- MODEL names the model, default gpt-4.1).
local body = '{"model":"' .. (os.getenv("MODEL") or "gpt-4.1") .. '","max_tokens":64,"messages":[' ..
  '{"role":"system","content":"You are a helpful assistant."},' ..
  '{"role":"user","content":"Say hello in one short sentence."}]}'
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench")
local n = 0
local limit = tonumber(os.getenv("N") or "10000")
function response(status)
  if status ~= 200 then error("unexpected status " .. status) end
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
