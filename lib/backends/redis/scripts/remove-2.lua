--[[
  remove-2: deletes a job that is not active, with its events.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P       key prefix
  ARGV[2] jobId

  Returns 'not_found', 'active' (nothing written: cancel it first) or 'removed': the job leaves
  its waiting or delayed zset (and its name leaves `names` when that was its last such job,
  forgetNameIfIdle) or its finished zset; record, stream and client watch are deleted and the
  job's event channel gets 'removed', which ends its open subscriptions (deleteJob in operations).
  Events: none (the stream is gone).
]]
-- @include common
-- @include operations

local P = ARGV[1]
local id = ARGV[2]
local rec = redis.call('HMGET', KEYS[1], 'state', 'name', 'qpos')
local state, name = rec[1], rec[2]
if not state then return 'not_found' end
if state == 'active' then return 'active' end

if state == 'waiting' then
  redis.call('ZREM', P .. 'waiting:' .. name, (rec[3] or '') .. id)
  forgetNameIfIdle(P, name)
elseif state == 'delayed' then
  redis.call('ZREM', P .. 'delayed:' .. name, id)
  forgetNameIfIdle(P, name)
else
  redis.call('ZREM', P .. state, id)
end
deleteJob(P, id, true)
return 'removed'
