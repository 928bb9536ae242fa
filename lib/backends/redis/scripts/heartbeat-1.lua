--[[
  heartbeat-1: renews the leases of several active jobs in one call.

  KEYS[1] active      zset, score = lease expiry

  ARGV[1] P           key prefix
  ARGV[2] now         epoch ms
  ARGV[3] leaseMs
  ARGV[4..] pairs: jobId, token

  Returns one entry per job: 0 = lost (token stale or job no longer active: nothing renewed),
  1 = renewed, or a string = renewed, and a cancel was requested with that reason (so a cancel
  announced while the worker's subscription was down still arrives).

  Events: none.
]]
local P = ARGV[1]
local leaseUntil = string.format('%.0f', tonumber(ARGV[2]) + tonumber(ARGV[3]))
local out = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local rec = redis.call('HMGET', P .. 'job:' .. id, 'token', 'state', 'cancelRequested')
  if rec[1] ~= ARGV[i + 1] or rec[2] ~= 'active' then
    out[#out + 1] = 0
  else
    redis.call('ZADD', KEYS[1], leaseUntil, id)
    if rec[3] then out[#out + 1] = rec[3] else out[#out + 1] = 1 end
  end
end
return out
