--[[
  add-6: adds a batch of jobs, in order, all or nothing.

  KEYS[1] seq        queue-position counter (see queuePos in common)
  KEYS[2] names      set of the names that have waiting/delayed jobs (see rememberName in common)
  KEYS[3] clients    zset of watchClient jobs
  KEYS[4] completed  KEYS[5] failed  KEYS[6] cancelled   (finished zsets)

  ARGV[1] P           key prefix, e.g. '{jq}:'
  ARGV[2] maxWaiting  '' = unbounded
  ARGV[3] maxLen      event stream bound
  ARGV[4..] 12 fields per job:
    id, name, data, priority, attempts, createdAt, delayMs, owner, backoff, timeoutMs, watchClient, trace
    ('' = absent for owner, backoff, timeoutMs, trace; watchClient '1' or '0'; trace is the
    producer's serialized trace context, stored as field `trace` for the consumer span)

  Returns one entry per job: 1 when it was created, or the existing record (HGETALL) when a job
  with that id exists and is not finished (idempotency). A finished job with that id is replaced:
  its record and old events are deleted first.
  Error: 'JQ_QUEUE_FULL <maxWaiting>' when the new jobs would exceed maxWaiting (nothing written).

  Events: `queued` per created job (data {delayMs} when delayed).
  Every event is appended to events:<id> and published on the channel evc:<id> (addEvent).
  Also pushes a wake marker on wake:<name> per created job, delayed ones included, so blocked
  workers recompute their timeout, and adds the name to `names` (on every add: claim and cancel
  drop it again once its waiting and delayed zsets are empty).
]]
-- @include common

local P = ARGV[1]
local maxWaiting = ARGV[2]
local maxLen = ARGV[3]
local STRIDE = 12
local count = (#ARGV - 3) / STRIDE

-- Pass 1: which jobs are new (decides maxWaiting before anything is written).
-- isNew[i] = the replaced job's state (a finished one, or '' when there was none).
local isNew = {}
local seen = {}
local newCount = 0
for i = 0, count - 1 do
  local id = ARGV[4 + i * STRIDE]
  if not seen[id] then
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

-- Pass 2: write. One INCRBY reserves the queue positions of the whole batch.
local seq = 0
if newCount > 0 then seq = redis.call('INCRBY', KEYS[1], newCount) - newCount end
local namesAdded = {}
local out = {}
for i = 0, count - 1 do
  local base = 4 + i * STRIDE
  local id = ARGV[base]
  local jobKey = P .. 'job:' .. id
  if isNew[i] then
    local name = ARGV[base + 1]
    local priority = ARGV[base + 3]
    local createdAt = ARGV[base + 5]
    local delayMs = tonumber(ARGV[base + 6])
    local owner = ARGV[base + 7]
    local backoff = ARGV[base + 8]
    local timeoutMs = ARGV[base + 9]
    local watchClient = ARGV[base + 10]
    local trace = ARGV[base + 11]
    local eventsKey = P .. 'events:' .. id
    -- Drop every trace of a replaced job (or of an unreadable record without a state).
    redis.call('DEL', jobKey, eventsKey)
    if isNew[i] ~= '' then redis.call('ZREM', P .. isNew[i], id) end

    seq = seq + 1
    local state = 'waiting'
    if delayMs > 0 then state = 'delayed' end
    local fields = {
      'id', id, 'name', name, 'data', ARGV[base + 2], 'state', state, 'attempt', 0,
      'attempts', ARGV[base + 4], 'priority', priority, 'createdAt', createdAt,
    }
    -- A delayed job gets its queue position when it becomes due (claim promotes it).
    local qpos = queuePos(seq)
    if delayMs == 0 then fields[#fields + 1] = 'qpos'; fields[#fields + 1] = qpos end
    if owner ~= '' then fields[#fields + 1] = 'owner'; fields[#fields + 1] = owner end
    if backoff ~= '' then fields[#fields + 1] = 'backoff'; fields[#fields + 1] = backoff end
    if timeoutMs ~= '' then fields[#fields + 1] = 'timeoutMs'; fields[#fields + 1] = timeoutMs end
    if trace ~= '' then fields[#fields + 1] = 'trace'; fields[#fields + 1] = trace end
    if watchClient == '1' then
      fields[#fields + 1] = 'watchClient'; fields[#fields + 1] = '1'
      redis.call('ZADD', KEYS[3], createdAt, id)
    end
    redis.call('HSET', jobKey, unpack(fields))
    if not namesAdded[name] then
      namesAdded[name] = true
      redis.call('SADD', KEYS[2], name)
    end

    if delayMs > 0 then
      redis.call('ZADD', P .. 'delayed:' .. name, string.format('%.0f', tonumber(createdAt) + delayMs), id)
      addEvent(P, id, maxLen, 'queued', '{"delayMs":' .. string.format('%.0f', delayMs) .. '}')
    else
      redis.call('ZADD', P .. 'waiting:' .. name, -num(priority, 0), qpos .. id)
      addEvent(P, id, maxLen, 'queued', false)
    end
    pushWake(P, name)
    out[#out + 1] = 1
  else
    out[#out + 1] = redis.call('HGETALL', jobKey)
  end
end
return out
