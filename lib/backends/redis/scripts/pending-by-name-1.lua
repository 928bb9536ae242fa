--[[
  pending-by-name-1: waiting and delayed jobs per name, for the metrics gauges.

  KEYS[1] names

  ARGV[1] P   key prefix

  Returns a flat list { name, waiting, delayed, ... } over the names in `names` (every name with a
  waiting or delayed job is there; idle names are dropped): two ZCARDs per name, so the cost is
  bounded by the number of names, not of jobs.
  Events: none. Read-only.
]]
local P = ARGV[1]
local reply = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  reply[#reply + 1] = name
  reply[#reply + 1] = redis.call('ZCARD', P .. 'waiting:' .. name)
  reply[#reply + 1] = redis.call('ZCARD', P .. 'delayed:' .. name)
end
return reply
