-- wrk script: PUT /data/bench-<n> with a value of WRAFT_VALUE_BYTES (default 256) bytes.
-- Keys cycle over 10,000 names so the store stays small while every write is a real write.
local value_bytes = tonumber(os.getenv("WRAFT_VALUE_BYTES") or "256")
local value = string.rep("v", value_bytes)
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format("PUT", "/data/bench-" .. (counter % 10000), { ["Content-Type"] = "application/octet-stream" }, value)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
