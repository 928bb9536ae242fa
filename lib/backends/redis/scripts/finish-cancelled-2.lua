--[[
  finish-cancelled-2: active -> cancelled after the handler honoured (or ignored) a cancel,
  fenced by the claim token.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P           key prefix
  ARGV[2] jobId
  ARGV[3] token
  ARGV[4] now         epoch ms
  ARGV[5] reason
  ARGV[6] maxLen
  ARGV[7] retentionMs

  Returns 1, or 0 when the token is stale (nothing written).
  Events: `cancelled` {reason}. A job claimed under a globalConcurrency limit leaves its running
  set (leaveRunning).
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.
]]
-- @include common

local rec = redis.call('HMGET', KEYS[1], 'token', 'state', 'name', 'gc')
if rec[1] ~= ARGV[3] or rec[2] ~= 'active' then return 0 end
leaveRunning(ARGV[1], ARGV[2], rec[3], rec[4])
finishCancelled(ARGV[1], ARGV[2], ARGV[5], ARGV[4], ARGV[6], ARGV[7])
return 1
