--[[
  add-6: adds a batch of jobs, in order, all or nothing.

  KEYS[1] seq        queue-position counter (see queuePos in common)
  KEYS[2] names      set of the names that have waiting/delayed jobs (see rememberName in common)
  KEYS[3] clients    zset of watchClient jobs
  KEYS[4] completed  KEYS[5] failed  KEYS[6] cancelled   (finished zsets)

  ARGV[1] P           key prefix, e.g. '{jq}:'
  ARGV[2] maxWaiting  '' = unbounded
  ARGV[3] maxLen      event stream bound
  ARGV[4..] 13 fields per job:
    id, name, data, priority, attempts, createdAt, delayMs, owner, backoff, timeoutMs, watchClient, trace,
    generated
    ('' = absent for owner, backoff, timeoutMs, trace; watchClient '1' or '0'; trace is the
    producer's serialized trace context, stored as field `trace` for the consumer span; generated
    '1' when the id is a random UUID made for this add: no job can have it, so neither the
    idempotency read nor the clean-up of a replaced job is needed)

  Returns one entry per job: 1 when it was created, or the existing record (HGETALL) when a job
  with that id exists and is not finished (idempotency). A finished job with that id is replaced:
  its record and old events are deleted first.
  Error: 'JQ_QUEUE_FULL <maxWaiting>' when the new jobs would exceed maxWaiting (nothing written).

  Events: `queued` per created job (data {delayMs} when delayed).
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.
  Also pushes a wake marker on wake:<name> per created job, delayed ones included, so blocked
  workers recompute their timeout, and adds the name to `names` (on every add: claim and cancel
  drop it again once its waiting and delayed zsets are empty).
]]
-- @include common
-- @include create-job

local P = ARGV[1]
local maxWaiting = ARGV[2]
local maxLen = ARGV[3]
local STRIDE = 13
local count = (#ARGV - 3) / STRIDE

-- Pass 1: which jobs are new (decides maxWaiting before anything is written).
-- isNew[i] = the replaced job's state (a finished one, '' when there was none, false for a
-- generated id: nothing to replace; see createJob).
local isNew = {}
local seen = {}
local newCount = 0
for i = 0, count - 1 do
  local id = ARGV[4 + i * STRIDE]
  if ARGV[4 + i * STRIDE + 12] == '1' then
    isNew[i] = false
    newCount = newCount + 1
  elseif not seen[id] then
    seen[id] = true
    local state = redis.call('HGET', P .. 'job:' .. id, 'state')
    if (not state) or TERMINAL[state] then
      isNew[i] = state or ''
      newCount = newCount + 1
    end
  end
end

if maxWaiting ~= '' and newCount > 0 then
  local pending = 0
  for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    pending = pending + redis.call('ZCARD', P .. 'waiting:' .. name) + redis.call('ZCARD', P .. 'delayed:' .. name)
  end
  if pending + newCount > tonumber(maxWaiting) then
    return redis.error_reply('JQ_QUEUE_FULL ' .. maxWaiting)
  end
end

-- Due delayed jobs of these names became ready before the new ones: they queue first.
local promoted = {}
for i = 0, count - 1 do
  if isNew[i] ~= nil then
    local name = ARGV[4 + i * STRIDE + 1]
    if not promoted[name] then
      promoted[name] = true
      promoteDue(P, name, ARGV[4 + i * STRIDE + 5])
    end
  end
end

-- Pass 2: write. One INCRBY reserves the queue positions of the whole batch.
local seq = 0
if newCount > 0 then seq = redis.call('INCRBY', KEYS[1], newCount) - newCount end
local namesAdded = {}
local out = {}
-- Several new jobs: their waiting entries and wake markers go in one call per name.
local batch = newCount > 1 and newCreateBatch() or nil
for i = 0, count - 1 do
  local base = 4 + i * STRIDE
  local id = ARGV[base]
  local jobKey = P .. 'job:' .. id
  if isNew[i] ~= nil then
    local name = ARGV[base + 1]
    seq = seq + 1
    createJob(P, maxLen, seq, isNew[i], ARGV, base, batch)
    if not namesAdded[name] then
      namesAdded[name] = true
      redis.call('SADD', KEYS[2], name)
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = redis.call('HGETALL', jobKey)
  end
end
if batch then flushCreated(P, batch) end
return out
