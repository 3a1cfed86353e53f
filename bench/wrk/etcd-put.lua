-- wrk script: etcd v3 JSON gateway put of a 256-byte value (keys and values are base64).
local value_bytes = tonumber(os.getenv("WRAFT_VALUE_BYTES") or "256")
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end
local value = base64(string.rep("v", value_bytes))
local keys = {}
for i = 0, 9999 do keys[i] = base64("bench-" .. i) end
local counter = 0

request = function()
  counter = counter + 1
  local body = '{"key":"' .. keys[counter % 10000] .. '","value":"' .. value .. '"}'
  return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" }, body)
end
