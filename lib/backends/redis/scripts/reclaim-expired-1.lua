--[[
  reclaim-expired-1: takes back active jobs whose lease expired (their worker died or stalled).
  Atomic per call, so several processes may sweep at once: a job is reclaimed by exactly one.

  KEYS[1] active      zset, score = lease expiry

  ARGV[1] P           key prefix
  ARGV[2] now         epoch ms: leases that expired strictly before it are reclaimed
  ARGV[3] maxLen
  ARGV[4] retentionMs
  ARGV[5] limit       most jobs handled in this call
  ARGV[6] error       error stored on jobs failed for stalling: a string.format pattern whose one
                      '%d' receives how many times the job stalled (no other '%')
  ARGV[7] maxStalls   how many stalls a job may have and still be requeued (watchdog.maxStalls)
  ARGV[8] damaged     error stored on an active record without a name (it cannot be requeued)

  A stall does not use up an attempt: it is counted apart, in the record's `stalls` field.
  Per job:
  - a cancel was requested      -> cancelled, event `cancelled` {reason}
  - stalls so far < maxStalls   -> `stalls` + 1, attempt given back (the rerun keeps its attempt
                                   number), waiting behind the jobs already waiting at its priority,
                                   event `stalled` {attempt, stalls}, wake marker, name registered
                                   in `names` again (enqueue)
  - else                        -> failed for good, events `stalled` {attempt, stalls} then
                                   `failed` {error}
  A job claimed under a globalConcurrency limit leaves its running set (leaveRunning); a nameless
  debris record cannot name its set, and claim-1's countRunning drops it there.
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.

  Returns { requeuedIds, failedIds, cancelledIds }.
]]
-- @include common

local P = ARGV[1]
local now = ARGV[2]
local maxLen = ARGV[3]
local retentionMs = ARGV[4]
local requeued, failed, cancelled = {}, {}, {}

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[5]))
local maxStalls = tonumber(ARGV[7])
for _, id in ipairs(expired) do
  local jobKey = P .. 'job:' .. id
  local rec = redis.call('HMGET', jobKey, 'state', 'cancelRequested', 'attempt', 'stalls', 'name', 'priority', 'gc')
  local attempt = num(rec[3], 1)
  local stalls = num(rec[4], 0) + 1
  local stalledError = string.format(ARGV[6], stalls)
  if rec[1] ~= 'active' or not rec[5] then
    -- Index debris (record gone, in another state, or without a name to requeue under): drop the
    -- lease; a nameless active record is failed so it does not stay active forever.
    if rec[1] == 'active' then
      finishJob(P, id, 'failed', now, maxLen, retentionMs, cjson.encode({ error = ARGV[8] }), { 'error', ARGV[8] })
      failed[#failed + 1] = id
    end
    redis.call('ZREM', KEYS[1], id)
  elseif rec[2] then
    leaveRunning(P, id, rec[5], rec[7])
    finishCancelled(P, id, rec[2], now, maxLen, retentionMs)
    cancelled[#cancelled + 1] = id
  else
    leaveRunning(P, id, rec[5], rec[7])
    addEvent(P, id, maxLen, 'stalled', '{"attempt":' .. attempt .. ',"stalls":' .. stalls .. '}')
    if stalls <= maxStalls then
      redis.call('HSET', jobKey, 'stalls', stalls, 'attempt', attempt - 1)
      redis.call('HDEL', jobKey, 'startedAt')
      redis.call('ZREM', KEYS[1], id)
      enqueue(P, id, rec[5], rec[6], now)
      requeued[#requeued + 1] = id
    else
      redis.call('HSET', jobKey, 'stalls', stalls)
      finishJob(P, id, 'failed', now, maxLen, retentionMs, cjson.encode({ error = stalledError }), { 'error', stalledError }, false)
      failed[#failed + 1] = id
    end
  end
end
return { requeued, failed, cancelled }
