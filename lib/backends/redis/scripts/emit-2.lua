--[[
  emit-2: appends a custom event to a job's stream and announces it on the job's event channel,
  both in one step (see publishEvent in common.lua), so live subscribers get it in order.
  Fenced like progress: only the worker holding the current claim token of an active job may
  emit, so a worker that lost its lease cannot write into the new owner's stream or after the
  terminal event.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P           key prefix
  ARGV[2] jobId
  ARGV[3] token
  ARGV[4] maxLen      event stream bound (MAXLEN ~)
  ARGV[5] type        already validated by the caller (no spaces)
  ARGV[6] dataJson    optional: absent = an event without data

  Returns the new event id, or nil when the token is stale or the job is not active (nothing is
  written or published).
  Events: the custom one (appended to events:<id>, published on evc:<id>).
]]
-- @include common

local rec = redis.call('HMGET', KEYS[1], 'token', 'state')
if rec[1] ~= ARGV[3] or rec[2] ~= 'active' then return nil end
return addEvent(ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6] or false)
