--[[
  reclaim-expired-1: takes back active jobs whose lease expired (their worker died or stalled).
  Atomic per call, so several processes may sweep at once: a job is reclaimed by exactly one.

  KEYS[1] active      zset, score = lease expiry

  ARGV[1] P           key prefix
  ARGV[2] now         epoch ms: leases that expired strictly before it are reclaimed
  ARGV[3] maxLen
  ARGV[4] retentionMs
  ARGV[5] limit       most jobs handled in this call
  ARGV[6] error       error message stored on jobs failed for stalling

  Per job:
  - a cancel was requested -> cancelled, event `cancelled` {reason}
  - attempts remain        -> waiting at its FIFO position, event `stalled` {attempt}, wake marker,
                             name registered in `names` again (enqueue)
  - else                   -> failed, events `stalled` {attempt} then `failed` {error}
  Every event is appended to events:<id> and published on the channel evc:<id> (addEvent).

  Returns { requeuedIds, failedIds, cancelledIds }.
]]
-- @include common

local P = ARGV[1]
local now = ARGV[2]
local maxLen = ARGV[3]
local retentionMs = ARGV[4]
local requeued, failed, cancelled = {}, {}, {}

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(expired) do
  local jobKey = P .. 'job:' .. id
  local rec = redis.call('HMGET', jobKey, 'state', 'cancelRequested', 'attempt', 'attempts', 'name', 'priority', 'seq')
  local attempt = num(rec[3], 1)
  if rec[1] ~= 'active' or not rec[5] then
    -- Index debris (record gone, in another state, or without a name to requeue under): drop the
    -- lease; a nameless active record is failed so it does not stay active forever.
    if rec[1] == 'active' then
      finishJob(P, id, 'failed', now, maxLen, retentionMs, cjson.encode({ error = ARGV[6] }), { 'error', ARGV[6] })
      failed[#failed + 1] = id
    end
    redis.call('ZREM', KEYS[1], id)
  elseif rec[2] then
    finishCancelled(P, id, rec[2], now, maxLen, retentionMs)
    cancelled[#cancelled + 1] = id
  else
    addEvent(P, id, maxLen, 'stalled', '{"attempt":' .. attempt .. '}')
    if attempt < num(rec[4], 1) then
      redis.call('ZREM', KEYS[1], id)
      enqueue(P, id, rec[5], rec[6], rec[7], false)
      requeued[#requeued + 1] = id
    else
      finishJob(P, id, 'failed', now, maxLen, retentionMs, cjson.encode({ error = ARGV[6] }), { 'error', ARGV[6] }, false)
      failed[#failed + 1] = id
    end
  end
end
return { requeued, failed, cancelled }
