--[[
  progress-2: records progress of an active job, fenced by the claim token.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P           key prefix
  ARGV[2] jobId
  ARGV[3] token
  ARGV[4] valueJson
  ARGV[5] maxLen

  Returns 1, or 0 when the token is stale (nothing written).
  Events: `progress` with the value as data (appended and published on evc:<id>, see addEvent).
]]
-- @include common

local rec = redis.call('HMGET', KEYS[1], 'token', 'state')
if rec[1] ~= ARGV[3] or rec[2] ~= 'active' then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[4])
addEvent(ARGV[1], ARGV[2], ARGV[5], 'progress', ARGV[4])
return 1
