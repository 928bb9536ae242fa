--[[
  release-2: hands an active job back (graceful shutdown), fenced by the claim token.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P           key prefix
  ARGV[2] jobId
  ARGV[3] token
  ARGV[4] now         epoch ms
  ARGV[5] maxLen
  ARGV[6] retentionMs
  ARGV[7] error       stored when a damaged record (no name) cannot be handed back and fails

  Returns 1 (handed back), 2 (cancelled instead), 3 (failed: a damaged record without a name), or 0
  when the token is stale (nothing written).
  The job goes back to waiting at the front of its priority (position '0' + its old sequence, so
  hand-backs keep their relative order), its attempt not consumed, and a worker is woken: event
  `queued` {released: true}. A job with a pending cancel request is cancelled instead (event
  `cancelled` {reason}): a cancelled job never runs again. Either way a job claimed under a
  globalConcurrency limit leaves its running set (leaveRunning).
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.
]]
-- @include common

local P = ARGV[1]
local id = ARGV[2]
local rec = redis.call('HMGET', KEYS[1], 'token', 'state', 'cancelRequested', 'name', 'priority', 'qpos', 'gc')
if rec[1] ~= ARGV[3] or rec[2] ~= 'active' then return 0 end
leaveRunning(P, id, rec[4], rec[7])
if rec[3] then
  finishCancelled(P, id, rec[3], ARGV[4], ARGV[5], ARGV[6])
  return 2
end
if not rec[4] then
  -- A damaged record without a name cannot go back to a queue: it fails instead of vanishing.
  finishJob(P, id, 'failed', ARGV[4], ARGV[5], ARGV[6], cjson.encode({ error = ARGV[7] }), { 'error', ARGV[7] })
  return 3
end
-- Before the record changes: the stream, if created here, starts from the record as it was.
addEvent(P, id, ARGV[5], 'queued', '{"released":true}')
redis.call('HINCRBY', KEYS[1], 'attempt', -1)
redis.call('HDEL', KEYS[1], 'startedAt')
redis.call('ZREM', P .. 'active', id)
local qpos = rec[6]
if not isQueuePos(qpos) then qpos = queuePos(0) end
enqueueAt(P, id, rec[4], rec[5], '0' .. string.sub(qpos, 2))
return 1
