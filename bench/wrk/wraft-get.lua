-- wrk script: linearizable GET /data/bench-<n> (keys written by wraft-put.lua beforehand).
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/data/bench-" .. (counter % 1000))
end
