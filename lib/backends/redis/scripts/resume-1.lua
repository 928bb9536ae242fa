--[[
  resume-1: clears one pause level and wakes the workers of the names that may run again.

  KEYS[1] paused      set: '' (the whole queue is paused) and paused names

  ARGV[1] P           key prefix
  ARGV[2] level       '' for the queue level, else a job name

  A name runs only when neither the queue level nor its own is paused, so after the removal the
  names to wake are: for a name, that name unless the queue stays paused; for the queue level,
  every name with waiting or delayed jobs (`names`) not paused on its own. Each gets as many wake
  markers as it has waiting jobs (at most the wake cap, one for a name with only delayed jobs so
  its workers recompute their wait): blocked workers in every process wake, as after adds.

  Returns 1 when the level was paused, else 0 (nothing changed, nobody woken).
]]
-- @include common

local P = ARGV[1]
local level = ARGV[2]
if redis.call('SREM', KEYS[1], level) == 0 then return 0 end
if redis.call('SISMEMBER', KEYS[1], '') == 1 then return 1 end

-- Only names with jobs get markers: a wake list nobody pops would stay forever.
local names = {}
if level == '' then
  names = redis.call('SMEMBERS', P .. 'names')
elseif redis.call('SISMEMBER', P .. 'names', level) == 1 then
  names = { level }
end
for _, name in ipairs(names) do
  if level ~= '' or redis.call('SISMEMBER', KEYS[1], name) == 0 then
    pushWake(P, name, math.max(redis.call('ZCARD', P .. 'waiting:' .. name), 1))
  end
end
return 1
