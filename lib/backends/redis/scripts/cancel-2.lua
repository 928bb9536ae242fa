--[[
  cancel-2: cancels a job in any state.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P           key prefix
  ARGV[2] jobId
  ARGV[3] reason
  ARGV[4] now         epoch ms
  ARGV[5] maxLen
  ARGV[6] retentionMs
  ARGV[7] channel     cancel pub/sub channel
  ARGV[8] message     JSON {jobId, reason, origin} to publish

  Returns:
  - 'not_found'         no such job
  - 'already_finished'  completed/failed/cancelled
  - 'cancelled'         it was waiting/delayed: now cancelled, event `cancelled` {reason}; when
                        that was the last waiting/delayed job of its name, the name leaves `names`
                        and its wake list is deleted (forgetNameIfIdle)
  - 'cancelling'        it is active: `cancelRequested` stored on the record (the first reason
                        wins), the job leaves the client-watch index, and the message is
                        published so the owning process aborts the handler; the owner finishes
                        it (finish-cancelled) or a later heartbeat/reclaim picks the request up.
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.
]]
-- @include common

local P = ARGV[1]
local id = ARGV[2]
local rec = redis.call('HMGET', KEYS[1], 'state', 'name', 'cancelRequested', 'qpos')
local state = rec[1]
if not state then return 'not_found' end
if TERMINAL[state] then return 'already_finished' end
if state == 'waiting' or state == 'delayed' then
  -- A damaged record without a name leaves its index entry behind: claim drops it as debris.
  if rec[2] then
    if state == 'waiting' then
      redis.call('ZREM', P .. 'waiting:' .. rec[2], (rec[4] or '') .. id)
    else
      redis.call('ZREM', P .. 'delayed:' .. rec[2], id)
    end
    forgetNameIfIdle(P, rec[2])
  end
  finishCancelled(P, id, ARGV[3], ARGV[4], ARGV[5], ARGV[6])
  return 'cancelled'
end
if not rec[3] then
  redis.call('HSET', KEYS[1], 'cancelRequested', ARGV[3])
end
-- A cancelled-to-be job needs no client watch any more (the watchdog would cancel it again).
redis.call('ZREM', P .. 'clients', id)
publish(ARGV[7], ARGV[8])
return 'cancelling'
