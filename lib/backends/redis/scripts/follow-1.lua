--[[
  follow-1: records that a cancel-on-disconnect event stream of the job is open (see
  QueueBackend.recordFollowed), so a process deciding whether to cancel the job after its client
  disconnected sees streams of the job on every process.

  KEYS[1] job:<id>

  ARGV[1] at          epoch ms

  Sets the record's `followedAt` to `at` unless it holds a later time already (writes of several
  processes may arrive out of order). Nothing is written for an unknown job: no stub record.
  Returns 1 when the job exists, 0 otherwise.
  Events: none.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local at = tonumber(ARGV[1])
local stored = tonumber(redis.call('HGET', KEYS[1], 'followedAt'))
if stored == nil or at > stored then redis.call('HSET', KEYS[1], 'followedAt', ARGV[1]) end
return 1
