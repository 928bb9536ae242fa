--[[
  retry-2: puts a finished job back in the queue, same id, fresh attempts.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P         key prefix
  ARGV[2] jobId
  ARGV[3] now       epoch ms
  ARGV[4] delayMs   0 = waiting at once
  ARGV[5] maxLen

  Returns 'not_found', 'not_finished' (waiting, delayed or active: nothing written) or 'retried':
  the job leaves its finished zset, its record and stream lose their TTL (PERSIST), attempt = 0 and
  startedAt, finishedAt, progress, result, error, cancelReason, cancelRequested and stalls are
  cleared; then -> waiting behind the jobs already waiting at its priority (a fresh queue position,
  enqueue in common) or, with a delay, -> delayed (due now + delayMs; name registered, wake marker
  so blocked workers recompute their timeout). A watchClient job is watched again from now.

  Events: `queued` {retried: true} or {retried: true, delayMs}, after the old run's events, so a
  stream read from the start replays the old run and follows the new one.
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.
]]
-- @include common

local P = ARGV[1]
local id = ARGV[2]
local now = ARGV[3]
local delayMs = tonumber(ARGV[4])
local rec = redis.call('HMGET', KEYS[1], 'state', 'name', 'priority', 'watchClient')
local state, name = rec[1], rec[2]
if not state then return 'not_found' end
if not TERMINAL[state] then return 'not_finished' end

-- The old run's events into a stream before the record forgets them (see lazy streams in common).
materializeEvents(P, id, ARGV[5])
redis.call('ZREM', P .. state, id)
redis.call('HDEL', KEYS[1], 'startedAt', 'finishedAt', 'progress', 'result', 'error', 'cancelReason', 'cancelRequested', 'stalls', 'qpos', 'delayMs')
redis.call('HSET', KEYS[1], 'attempt', 0)
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
if rec[4] == '1' then redis.call('ZADD', P .. 'clients', now, id) end

if delayMs > 0 then
  redis.call('HSET', KEYS[1], 'state', 'delayed')
  redis.call('ZADD', P .. 'delayed:' .. name, string.format('%.0f', tonumber(now) + delayMs), id)
  rememberName(P, name)
  pushWake(P, name)
  addEvent(P, id, ARGV[5], 'queued', '{"retried":true,"delayMs":' .. string.format('%.0f', delayMs) .. '}')
else
  enqueue(P, id, name, rec[3], now)
  addEvent(P, id, ARGV[5], 'queued', '{"retried":true}')
end
return 'retried'
