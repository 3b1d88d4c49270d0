-- wrk script: the benchmark's chat request (bench/chat.lua: MODEL, DIALECT, STREAM), stopping
-- after N responses (N from the environment).
dofile("bench/chat.lua")
local n = 0
local limit = tonumber(os.getenv("N") or "10000")
function response(status)
  if status ~= 200 then error("unexpected status " .. status) end
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
