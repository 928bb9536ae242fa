--[[
  Writing a new job, shared by add-6 and fire-schedule-3 (include after common).

  createJob(P, maxLen, seq, replaced, args, base): writes job args[base] from the 12 values
  args[base .. base + 11] (id, name, data, priority, attempts, createdAt, delayMs, owner, backoff,
  timeoutMs, watchClient, trace: the layout of add-6's ARGV; trace '' = none): drops a replaced finished job (`replaced`:
  its state, '' for none, false for a generated id, which no key can hold yet), then the record, the waiting (position `seq`) or delayed zset entry, the
  watchClient registration, the `queued` event and a wake marker. The caller checked that no
  unfinished job has the id, reserved `seq` and registers the name in `names` (once per batch).
  `batch` (newCreateBatch): collects the waiting entries and wake markers of several jobs for
  flushCreated, which the caller runs after the last createJob of the batch.
]]
-- A priority (an integer string from the producer) negated, as the waiting zset's score, without a
-- number conversion (see msString in common). enqueueAt negates a record's priority with num()
-- instead: a stored record may be damaged, a producer's argument is validated.
local function negatedPriority(priority)
  if priority == '0' then return '0' end
  if string.sub(priority, 1, 1) == '-' then return string.sub(priority, 2) end
  return '-' .. priority
end

local function createJob(P, maxLen, seq, replaced, args, base, batch)
  local id = args[base]
  local name = args[base + 1]
  local priority = args[base + 3]
  local createdAt = args[base + 5]
  local delayMs = tonumber(args[base + 6])
  local owner = args[base + 7]
  local backoff = args[base + 8]
  local timeoutMs = args[base + 9]
  local watchClient = args[base + 10]
  local trace = args[base + 11]
  local jobKey = P .. 'job:' .. id
  if replaced ~= false then
    -- Drop every trace of a replaced job (or of an unreadable record without a state).
    redis.call('DEL', jobKey, P .. 'events:' .. id)
    if replaced ~= '' then redis.call('ZREM', P .. replaced, id) end
  end

  local state = 'waiting'
  -- As the record stores it (read back by derivedEvents for the `queued` event's data).
  local delayField = nil
  if delayMs > 0 then
    state = 'delayed'
    delayField = string.format('%.0f', delayMs)
  end
  -- `ns`: a new job has no stream (see addLifecycleEvent's hints).
  local fields = {
    'id', id, 'name', name, 'data', args[base + 2], 'state', state, 'attempt', '0',
    'attempts', args[base + 4], 'priority', priority, 'createdAt', createdAt, 'ns', '1',
  }
  -- A delayed job gets its queue position when it becomes due (claim promotes it).
  local qpos = queuePos(seq)
  if delayMs == 0 then fields[#fields + 1] = 'qpos'; fields[#fields + 1] = qpos end
  if delayField then fields[#fields + 1] = 'delayMs'; fields[#fields + 1] = delayField end
  if owner ~= '' then fields[#fields + 1] = 'owner'; fields[#fields + 1] = owner end
  if backoff ~= '' then fields[#fields + 1] = 'backoff'; fields[#fields + 1] = backoff end
  if timeoutMs ~= '' then fields[#fields + 1] = 'timeoutMs'; fields[#fields + 1] = timeoutMs end
  if trace and trace ~= '' then fields[#fields + 1] = 'trace'; fields[#fields + 1] = trace end
  if watchClient == '1' then
    fields[#fields + 1] = 'watchClient'; fields[#fields + 1] = '1'
    redis.call('ZADD', P .. 'clients', createdAt, id)
  end
  redis.call('HSET', jobKey, unpack(fields))

  if delayMs > 0 then
    redis.call('ZADD', P .. 'delayed:' .. name, string.format('%.0f', tonumber(createdAt) + delayMs), id)
  elseif batch then
    local entries = batch.waiting[name]
    if not entries then
      entries = {}
      batch.waiting[name] = entries
    end
    entries[#entries + 1] = negatedPriority(priority)
    entries[#entries + 1] = qpos .. id
  else
    redis.call('ZADD', P .. 'waiting:' .. name, negatedPriority(priority), qpos .. id)
  end
  -- Derived from the record just written: a new job has no stream (see lazy streams in common).
  local known = { createdAt, delayField, nil, nil, state }
  addLifecycleEvent(P, id, maxLen, 'queued', false, known, replaced == false and 'generated' or 'given')
  if batch then
    batch.wakes[name] = (batch.wakes[name] or 0) + 1
  else
    pushWake(P, name)
  end
end

-- A batch for createJob: the waiting-zset entries and wake markers of several new jobs, written by
-- flushCreated with one ZADD and one RPUSH per name instead of one of each per job.
local function newCreateBatch()
  return { waiting = {}, wakes = {} }
end

local function flushCreated(P, batch)
  for name, entries in pairs(batch.waiting) do
    for i = 1, #entries, 2 * VARIADIC_CHUNK do
      redis.call('ZADD', P .. 'waiting:' .. name, unpack(entries, i, math.min(i + 2 * VARIADIC_CHUNK - 1, #entries)))
    end
  end
  for name, n in pairs(batch.wakes) do pushWake(P, name, n) end
end
