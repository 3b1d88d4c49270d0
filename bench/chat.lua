-- wrk script: the benchmark's chat request (system + user message, max_tokens 64, a key).
-- STREAM=1 in the environment asks for a streamed answer; MODEL names the model (gpt-4.1);
-- DIALECT=anthropic sends the same conversation as an Anthropic Messages request.
local stream = os.getenv("STREAM") == "1"
local model = os.getenv("MODEL") or "gpt-4.1"
local anthropic = os.getenv("DIALECT") == "anthropic"
wrk.method = "POST"
if anthropic then
  wrk.body = '{"model":"' .. model .. '","max_tokens":64,' .. (stream and '"stream":true,' or '') ..
    '"system":"You are a helpful assistant.",' ..
    '"messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
  wrk.headers["anthropic-version"] = "2023-06-01"
else
  wrk.body = '{"model":"' .. model .. '","max_tokens":64,' .. (stream and '"stream":true,' or '') ..
    '"messages":[{"role":"system","content":"You are a helpful assistant."},' ..
    '{"role":"user","content":"Say hello in one short sentence."}]}'
end
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench")
