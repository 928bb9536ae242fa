--[[
  Writing a new job, shared by add-6 and fire-schedule-3 (include after common).

  createJob(P, maxLen, seq, replaced, args, base): writes job args[base] from the 12 values
  args[base .. base + 11] (id, name, data, priority, attempts, createdAt, delayMs, owner, backoff,
  timeoutMs, watchClient, trace: the layout of add-6's ARGV; trace '' = none): drops a replaced finished job (`replaced`:
  its state, '' for none, false for a generated id, which no key can hold yet), then the record, the waiting (position `seq`) or delayed zset entry, the
  watchClient registration, the `queued` event and a wake marker. The caller checked that no
  unfinished job has the id, reserved `seq` and registers the name in `names` (once per batch).
]]
local function createJob(P, maxLen, seq, replaced, args, base)
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
  else
    redis.call('ZADD', P .. 'waiting:' .. name, -num(priority, 0), qpos .. id)
  end
  -- Derived from the record just written: a new job has no stream (see lazy streams in common).
  local known = { createdAt, delayField, nil, nil, state }
  addLifecycleEvent(P, id, maxLen, 'queued', false, known, replaced == false and 'generated' or 'given')
  pushWake(P, name)
end
