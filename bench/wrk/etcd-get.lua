-- wrk script: etcd v3 JSON gateway linearizable range read of one key.
local counter = 0
local keys = { "YmVuY2gtMQ==", "YmVuY2gtMg==", "YmVuY2gtMw==" }  -- bench-1, bench-2, bench-3
request = function()
  counter = counter + 1
  local body = '{"key":"' .. keys[counter % 3 + 1] .. '"}'
  return wrk.format("POST", "/v3/kv/range", { ["Content-Type"] = "application/json" }, body)
end
