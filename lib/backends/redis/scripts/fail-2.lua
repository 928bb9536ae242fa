--[[
  fail-2: ends a failed attempt, fenced by the claim token.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P             key prefix
  ARGV[2] jobId
  ARGV[3] token
  ARGV[4] now           epoch ms
  ARGV[5] error         message
  ARGV[6] retryDelayMs  '' = do not retry
  ARGV[7] maxLen
  ARGV[8] retentionMs

  Returns 'lost' (token stale, nothing written), 'retrying', 'failed' or 'cancelled'.
  - A cancel was requested: -> cancelled (never retried), event `cancelled` {reason}; returns 'cancelled'.
  - attempts remain and retryDelayMs given: event `retrying` {attempt, delayMs, error}; -> delayed
    (due now + delay) or, with no delay, back to waiting behind the jobs already waiting at its
    priority (a fresh queue position); wake marker pushed,
    and the name registered in `names` again (it may have been dropped while the job was active).
  - else -> failed, event `failed` {error}.
  A job claimed under a globalConcurrency limit leaves its running set in every case (leaveRunning).
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.
]]
-- @include common

local P = ARGV[1]
local id = ARGV[2]
local now = ARGV[4]
local err = ARGV[5]
local maxLen = ARGV[7]
local rec = redis.call('HMGET', KEYS[1], 'token', 'state', 'attempt', 'attempts', 'cancelRequested', 'name', 'priority', 'watchClient', 'gc')
if rec[1] ~= ARGV[3] or rec[2] ~= 'active' then return 'lost' end
-- Whatever the outcome, the job leaves `active`.
leaveRunning(P, id, rec[6], rec[9])

if rec[5] then
  finishCancelled(P, id, rec[5], now, maxLen, ARGV[8])
  return 'cancelled'
end

local attempt = num(rec[3], 1)
-- A record without a name (damaged) cannot be requeued: it fails.
if ARGV[6] ~= '' and attempt < num(rec[4], 1) and rec[6] then
  local delayMs = tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 'error', err)
  redis.call('ZREM', P .. 'active', id)
  addEvent(P, id, maxLen, 'retrying', cjson.encode({ attempt = attempt, delayMs = delayMs, error = err }))
  if delayMs > 0 then
    redis.call('HSET', KEYS[1], 'state', 'delayed')
    redis.call('ZADD', P .. 'delayed:' .. rec[6], string.format('%.0f', tonumber(now) + delayMs), id)
    -- The name may have left `names` while the job was active (see forgetNameIfIdle).
    rememberName(P, rec[6])
    -- Blocked workers wake to recompute their timeout for the new due time.
    pushWake(P, rec[6])
  else
    enqueue(P, id, rec[6], rec[7], now)
  end
  return 'retrying'
end

finishJob(P, id, 'failed', now, maxLen, ARGV[8], cjson.encode({ error = err }), { 'error', err }, false, rec[8] ~= false)
return 'failed'
