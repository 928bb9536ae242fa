--[[
  Shared helpers, inlined by redis-scripts.ts where a script says `-- @include common`.

  Every key of a queue starts with P, the hash-tagged prefix (e.g. '{jq}:'), passed as ARGV[1].
  Keys that depend on a job id or job name are built here from P; they hash to the same slot as
  the declared KEYS, so scripts stay single-slot and work on Redis Cluster. So are the per-job
  event channels (P .. 'evc:' .. id), which every event write publishes to (publishEvent).

  Job hash fields: id name data state attempt attempts priority seq createdAt [owner backoff
  timeoutMs watchClient startedAt finishedAt token progress result error cancelReason
  cancelRequested ns lsn]. `token` is only meaningful while state = 'active' (every fenced script
  checks both), so it is never deleted, just overwritten by the next claim. `ns` and `lsn` are hints
  for the hot paths (lazy streams and listened jobs, below).
]]

local TERMINAL = { completed = true, failed = true, cancelled = true }

-- Numbers read from a record. A damaged record must not raise a Lua error: that would abort a
-- whole batch (a reclaim sweep, a claim) over one bad job, on every retry.
local function num(value, default)
  return tonumber(value) or default
end
-- A wake list only needs "there may be work"; more markers than blocked workers are useless.
local WAKE_CAP = 64

--[[ Waiting zsets: score = -priority, so ZPOPMIN takes the highest priority first. Within a
  priority Redis orders members by their bytes, and a member is '<pos><id>' with a fixed-width
  position: '1' + the 19-digit queue sequence for a job that became ready (added, due, retried,
  requeued after a stall), '0' + its old sequence for a shutdown hand-back (the front). FIFO thus
  holds for 2^53 enqueues (no wrap), and a job queues by the time it became ready. The position is
  kept on the record (`qpos`) so cancel can find the member. The memory backend orders the same way. ]]
local POS_LEN = 20

local function queuePos(seq)
  return '1' .. string.format('%019d', seq)
end

-- Reserves `n` consecutive positions; returns the sequence number before the first one.
local function reservePositions(P, n)
  return redis.call('INCRBY', P .. 'seq', n) - n
end

-- A queue position: '0' or '1' and 19 digits.
local function isQueuePos(value)
  return type(value) == 'string' and #value == POS_LEN and string.find(value, '^[01]%d+$') ~= nil
end

-- The job id of a waiting-zset member. A member written before queue positions existed (0.1.x) is
-- the bare id: it is still claimed, so no waiting job is lost on an upgrade.
local function idOfMember(member)
  if #member > POS_LEN and isQueuePos(string.sub(member, 1, POS_LEN)) then
    return string.sub(member, POS_LEN + 1)
  end
  return member
end

-- Pushes `n` wake markers (default 1; at most WAKE_CAP) on a name's wake list, in one call.
local function pushWake(P, name, n)
  local key = P .. 'wake:' .. name
  local length
  if not n or n == 1 then
    length = redis.call('RPUSH', key, '1')
  else
    local markers = {}
    for i = 1, math.min(n, WAKE_CAP) do markers[i] = '1' end
    length = redis.call('RPUSH', key, unpack(markers))
  end
  -- One call in the common case; the trim only runs once the list is over its cap.
  if length > WAKE_CAP then
    redis.call('LTRIM', key, '0', tostring(WAKE_CAP - 1))
  end
end

-- >>> pub/sub command (owned by the connection code: keep this block as one unit)
--[[ Every message of this queue (job events, cancels) goes out here. Redis >= 7: SPUBLISH, sharded
  pub/sub: on a Cluster the message stays on the shard of the queue's slot instead of being relayed
  to every node. Older servers: PUBLISH. The subscribers choose SSUBSCRIBE or SUBSCRIBE by running
  this same test (redis-connections.ts, SHARDED_PUBSUB_PROBE), so both sides always agree. ]]
local PUBLISH_COMMAND = (redis.REDIS_VERSION_NUM or 0) >= 0x070000 and 'SPUBLISH' or 'PUBLISH'
local function publish(channel, message)
  redis.call(PUBLISH_COMMAND, channel, message)
end
-- <<< pub/sub command

--[[ Announces an event just appended to job `id`'s stream on the job's event channel
  P .. 'evc:' .. id, so live subscribers (redis-event-reader.ts) get it without reading the
  stream. Called in the same script as the XADD: messages leave in stream order, and none can
  be missing between two a subscriber saw. Message: '<eventId> <type>' or
  '<eventId> <type> <data>' (ids and types never contain a space; the data is all the rest).
  Nobody subscribed: a publish is one dict lookup (~1 us), so unwatched jobs pay next to nothing. ]]
local function publishEvent(P, id, eventId, eventType, data)
  local message = eventId .. ' ' .. eventType
  if data then message = message .. ' ' .. data end
  publish(P .. 'evc:' .. id, message)
end

--[[ Queue-wide events (queueEvents): every event is also published on P .. 'qev', with its job's
  id and name, but only while someone listens: listening processes keep the key P .. 'qe' alive
  (a TTL they refresh, see redis-queue-events.ts). The key is read once per script call, on its
  first event; with nobody listening that EXISTS is the whole cost (no HGET, no PUBLISH).
  Message: '<jobId> <name> <eventId> <type>[ <data>]' (none of the first four contains a space). ]]
local queueEventsListened -- @per-call: nil until the first event of this call asked
local function queueEventsHeard(P)
  if queueEventsListened == nil then
    queueEventsListened = redis.call('EXISTS', P .. 'qe') == 1
  end
  return queueEventsListened
end
local function publishQueueEvent(P, id, eventId, eventType, data)
  if not queueEventsHeard(P) then return end
  local name = redis.call('HGET', P .. 'job:' .. id, 'name') or ''
  local message = id .. ' ' .. name .. ' ' .. eventId .. ' ' .. eventType
  if data then message = message .. ' ' .. data end
  publish(P .. 'qev', message)
end

-- Appends an event to job `id`'s stream (bounded by maxLen) and announces it. `data`: JSON string,
-- or false for none. Returns the event id. For an event the job's record cannot describe (see the
-- lazy streams below): call materializeEvents first, before the script changes the record.
local function appendEvent(P, id, maxLen, eventType, data)
  local eventsKey = P .. 'events:' .. id
  local eventId
  if data then
    eventId = redis.call('XADD', eventsKey, 'MAXLEN', '~', maxLen, '*', 't', eventType, 'd', data)
  else
    eventId = redis.call('XADD', eventsKey, 'MAXLEN', '~', maxLen, '*', 't', eventType)
  end
  publishEvent(P, id, eventId, eventType, data)
  publishQueueEvent(P, id, eventId, eventType, data)
  return eventId
end

--[[ Lazy event streams. The first run of a job (queued, active, then completed, failed or
  cancelled) is written to its record anyway: createdAt (+ delayMs), startedAt and attempt,
  finishedAt and result, error or cancelReason. Those events are not appended to a stream: a job
  whose history is just that never gets one (a new stream costs Redis a 4 KB listpack, ~25 us and
  4 KB of memory for the whole retention; most jobs are never followed). Their ids are derived from
  the record's times (derivedEvents), so the publish of such an event, every read of the history
  (read-events-2.lua) and a later stream all give the same ids. The first event the record cannot
  describe (progress, a custom event, a retry, a stall, a hand-back, a retry of a finished job)
  first writes the derived events into a new stream with those ids (materializeEvents), then
  appends with XADD '*', which never goes below the last id. Invariant: a job without a stream
  has had exactly derivedEvents(record). ]]

--[[ A time field as whole milliseconds, in decimal without leading zeros. The scripts write times
  so (they come from Date.now() via ARGV), and such a string is used as it is: converting it to a
  number and back costs Redis a strtod and a sprintf, several per job on the hot path. Anything else
  (a damaged or hand-edited field) is converted, floored, and clamped at 0. ]]
local plainMs = {} -- @per-call: strings already found plain in this call (a batch shares its times)
local function msString(at)
  if plainMs[at] then return at end
  if type(at) == 'string' and string.find(at, '^[1-9]%d*$') then
    plainMs[at] = true
    return at
  end
  return string.format('%.0f', math.max(0, math.floor(num(at, 0))))
end

-- a > b, for two msString values (decimal strings without leading zeros).
local function msAfter(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end

local DERIVED_FIELDS = { 'createdAt', 'delayMs', 'startedAt', 'attempt', 'state', 'finishedAt', 'result', 'error', 'cancelReason' }
-- Where a terminal transition's own field goes in DERIVED_FIELDS (see finishJob).
local DERIVED_INDEX = { result = 7, error = 8, cancelReason = 9 }

-- The data of a derived event, built exactly as the script that wrote its transition builds it.
local function derivedData(r, eventType)
  if eventType == 'queued' then return r[2] and ('{"delayMs":' .. r[2] .. '}') or false end
  if eventType == 'active' then return '{"attempt":' .. (r[4] or '1') .. '}' end
  if eventType == 'completed' then return '{"result":' .. (r[7] or 'null') .. '}' end
  if eventType == 'failed' then return cjson.encode({ error = r[8] }) end
  return cjson.encode({ reason = r[9] })
end

local DERIVED_STEPS = { 'queued', 'active', 'terminal' }

--[[ The events of job `id` while it has no stream, from its record: { { eventId, type, data or false }, ... }:
  queued (createdAt), active (startedAt, when set), then the terminal state (finishedAt). Each id is
  the event's time, or the previous id's with its sequence + 1 when that time is not later (as XADD
  '*' does when the clock is behind), so ids increase whatever the clocks of producer and worker.
  `r`: the record's DERIVED_FIELDS, in that order, when the caller knows them (saves the read).
  `lastOnly`: only the last event (the hot paths announce just that one): no data or table is built
  for the others. ]]
local function derivedEvents(P, id, r, lastOnly)
  r = r or redis.call('HMGET', P .. 'job:' .. id, unpack(DERIVED_FIELDS))
  local events = {}
  if not r[5] then return events end
  local ms, seq, lastType = '0', 0, nil
  for step = 1, 3 do
    local eventType, at, happened = DERIVED_STEPS[step], nil, true
    if step == 1 then
      at = r[1]
    elseif step == 2 then
      at, happened = r[3], r[3] ~= false and r[3] ~= nil
    else
      eventType, at, happened = r[5], r[6], TERMINAL[r[5]] == true
    end
    if happened then
      local next = msString(at)
      if msAfter(next, ms) then
        ms, seq = next, 0
      else
        seq = seq + 1
      end
      lastType = eventType
      if not lastOnly then
        events[#events + 1] = { ms .. (seq == 0 and '-0' or '-' .. seq), eventType, derivedData(r, eventType) }
      end
    end
  end
  if lastOnly then events[1] = { ms .. (seq == 0 and '-0' or '-' .. seq), lastType, derivedData(r, lastType) } end
  return events
end

-- Gives a job without a stream its derived events as a stream (same ids), with the record's TTL.
-- Call before an event the record cannot describe, and before the script changes the record.
local function materializeEvents(P, id, maxLen)
  local eventsKey = P .. 'events:' .. id
  if redis.call('EXISTS', eventsKey) == 1 then return end
  local events = derivedEvents(P, id)
  -- The job is getting a stream (its caller appends next): the record stops saying it has none.
  redis.call('HDEL', P .. 'job:' .. id, 'ns')
  for _, e in ipairs(events) do
    if e[3] then
      redis.call('XADD', eventsKey, 'MAXLEN', '~', maxLen, e[1], 't', e[2], 'd', e[3])
    else
      redis.call('XADD', eventsKey, 'MAXLEN', '~', maxLen, e[1], 't', e[2])
    end
  end
  local ttl = redis.call('PTTL', P .. 'job:' .. id)
  if #events > 0 and ttl > 0 then redis.call('PEXPIRE', eventsKey, ttl) end
end

-- Appends an event the record cannot describe (progress, custom, retrying, stalled, queued after
-- a hand-back or a retry), creating the stream from the derived events first. Call before the
-- script changes the record. Returns the event id.
local function addEvent(P, id, maxLen, eventType, data)
  materializeEvents(P, id, maxLen)
  return appendEvent(P, id, maxLen, eventType, data)
end

--[[ Hints a hot path reads from the record it reads anyway, to save a command per event:
  - `ns` = '1': the job has no stream. Written by createJob; materializeEvents deletes it as it
    creates the stream (all streams are created there), so `ns` implies no stream. Without it
    (a record written before the hint existed, or a job with a stream) the stream is looked up.
  - `lsn` = '1': someone follows the job's events live. Set by the history read of a live
    subscription (read-events-2), which subscribes to the job's channel first and reads the history
    in the same script that sets the hint: an event written before that read is in the history,
    one written after it sees the hint and is published. A lifecycle event of a job without the
    hint is not published on the job's channel (nobody hears it); queue events still are. ]]

--[[ A lifecycle event of the first run (queued, active, completed/failed/cancelled), called after
  the script wrote the transition to the record. With a stream (the job's history is more than its
  record), appended; without one, only announced, with the derived id and data, so live
  subscribers and later readers agree. Returns the event id (nil when nothing was sent) and whether
  the job has a stream.
  `known`: the record's DERIVED_FIELDS after the transition, when the caller has them (see derivedEvents);
  `created`: the job is being created, so it has no stream: 'given' for an id the caller chose
  (someone may follow it already), 'generated' for a random id made for this add (nobody can
  know it yet, so its channel has no subscriber and is not published to).
  `hints`: the record's `ns` and `lsn` (HGETALL/HMGET values, false when absent) when the caller
  read them; nil when it did not (then the stream is looked up and the event published). ]]
local function addLifecycleEvent(P, id, maxLen, eventType, data, known, created, hints)
  local noStream = created or (hints and hints[1] == '1')
  if not noStream and redis.call('EXISTS', P .. 'events:' .. id) == 1 then
    return appendEvent(P, id, maxLen, eventType, data), true
  end
  local unheard = created == 'generated' or (hints and hints[2] ~= '1')
  -- Nobody follows the job and nobody listens to the queue: nothing to send. With `known`, the
  -- caller's fields end with this event's state, so the record describes it (no check needed).
  if unheard and known and not queueEventsHeard(P) then return nil, false end
  local last = derivedEvents(P, id, known, true)[1]
  if last and last[2] == eventType then
    if not unheard then publishEvent(P, id, last[1], eventType, last[3]) end
    publishQueueEvent(P, id, last[1], eventType, last[3])
    return last[1], false
  end
  -- A damaged record that does not describe this event: keep the history in a stream instead.
  materializeEvents(P, id, maxLen)
  return appendEvent(P, id, maxLen, eventType, data), true
end

--[[ The `names` set holds exactly the names that may have waiting or delayed jobs: counts and
  maxWaiting sum waiting:<name> + delayed:<name> over it, so it must not grow with every name ever
  seen (dynamic names such as 'export:<tenant>'). Invariant: a name with a non-empty waiting or
  delayed zset is in `names`. So every script that ZADDs to waiting:/delayed: calls rememberName
  (add, enqueue, fail's delayed retry), and every script that removes from them (claim, cancel)
  calls forgetNameIfIdle afterwards. Active and finished jobs are counted from `active` and the
  finished zsets, never per name. ]]
local function rememberName(P, name)
  redis.call('SADD', P .. 'names', name)
end

-- When neither waiting:<name> nor delayed:<name> holds a job any more: drops the name from `names`
-- and its wake list (no TTL otherwise; the next add re-creates both). Returns true when it did.
local function forgetNameIfIdle(P, name)
  if redis.call('EXISTS', P .. 'waiting:' .. name, P .. 'delayed:' .. name) > 0 then return false end
  redis.call('SREM', P .. 'names', name)
  redis.call('DEL', P .. 'wake:' .. name)
  return true
end

-- Puts a job (record already updated by the caller) in its waiting zset at position `qpos` and
-- wakes a worker. Registers the name again: it may have been forgotten while the job was active.
local function enqueueAt(P, id, name, priority, qpos)
  redis.call('HSET', P .. 'job:' .. id, 'state', 'waiting', 'qpos', qpos)
  redis.call('ZADD', P .. 'waiting:' .. name, -num(priority, 0), qpos .. id)
  rememberName(P, name)
  pushWake(P, name)
end

-- Moves the delayed jobs of `name` that are due at `now` to waiting, in due order, each behind the
-- jobs already waiting at its priority. Bounded per call; the rest follow on the next one. Runs
-- before any job of the name gets a position (add, retry, requeue, claim), so a job that became due
-- earlier queues ahead of one that became ready later, even while every worker was busy.
local function promoteDue(P, name, now)
  local delayedKey = P .. 'delayed:' .. name
  local due = redis.call('ZRANGEBYSCORE', delayedKey, '-inf', now, 'LIMIT', '0', '1000')
  if #due == 0 then return end
  local seq = reservePositions(P, #due)
  for n, id in ipairs(due) do
    redis.call('ZREM', delayedKey, id)
    local rec = redis.call('HMGET', P .. 'job:' .. id, 'state', 'priority')
    if rec[1] == 'delayed' then
      enqueueAt(P, id, name, rec[2], queuePos(seq + n))
    end
  end
end

-- The job became ready at `now`: it queues behind the jobs already waiting at its priority (and
-- behind those of its name that became due before it).
local function enqueue(P, id, name, priority, now)
  promoteDue(P, name, now)
  enqueueAt(P, id, name, priority, queuePos(reservePositions(P, 1) + 1))
end

--[[ Every terminal transition goes through here: stamps the record (plus `extra` field/value
  pairs), then adds the terminal event (addLifecycleEvent: derived from those fields), drops
  it from the live indexes, lets record and stream expire after the retention, and records it in
  the finished zset (trimmed by retention).
  `hasCancel` / `watched`: pass false when the caller read the record and knows there is no
  cancel request / no client watch, to skip the matching cleanup call; nil means "maybe".
  `batch`: a list when the caller finishes several jobs of one state at one `now`: the job's id is
  appended to it, and the index updates (ZREM active, ZADD to the finished zset, the retention trim) are
  then made once for all by flushFinishBatch, instead of three calls per job.
  `firstRun`: { createdAt, delayMs, startedAt, attempt, ns, lsn } as the caller read them (hot paths), so
  the terminal event's derivation needs no read of the record (ns, lsn: see addLifecycleEvent). ]]
local function trimFinished(P, state, now, retentionMs)
  redis.call('ZREMRANGEBYSCORE', P .. state, '-inf', '(' .. string.format('%.0f', tonumber(now) - tonumber(retentionMs)))
end

-- Variadic calls in bounded chunks (Lua's unpack has a stack limit).
local VARIADIC_CHUNK = 500

local function flushFinishBatch(P, ids, state, now, retentionMs)
  if #ids == 0 then return end
  for i = 1, #ids, VARIADIC_CHUNK do
    local members, scored = {}, {}
    for j = i, math.min(i + VARIADIC_CHUNK - 1, #ids) do
      members[#members + 1] = ids[j]
      scored[#scored + 1] = now
      scored[#scored + 1] = ids[j]
    end
    redis.call('ZREM', P .. 'active', unpack(members))
    redis.call('ZADD', P .. state, unpack(scored))
  end
  trimFinished(P, state, now, retentionMs)
end

local function finishJob(P, id, state, now, maxLen, retentionMs, eventData, extra, hasCancel, watched, batch, firstRun)
  local jobKey = P .. 'job:' .. id
  local fields = { 'state', state, 'finishedAt', now }
  local known
  if firstRun then known = { firstRun[1], firstRun[2], firstRun[3], firstRun[4], state, now } end
  if extra then
    for i = 1, #extra do fields[#fields + 1] = extra[i] end
    -- result, error or cancelReason: DERIVED_FIELDS 7 to 9.
    if known and DERIVED_INDEX[extra[1]] then known[DERIVED_INDEX[extra[1]]] = extra[2] end
  end
  redis.call('HSET', jobKey, unpack(fields))
  if hasCancel ~= false then redis.call('HDEL', jobKey, 'cancelRequested') end
  -- After the record: a job without a stream derives its terminal event from these fields.
  local hints = firstRun and { firstRun[5], firstRun[6] }
  local _, streamed = addLifecycleEvent(P, id, maxLen, state, eventData, known, nil, hints)
  redis.call('PEXPIRE', jobKey, retentionMs)
  if streamed then redis.call('PEXPIRE', P .. 'events:' .. id, retentionMs) end
  if watched ~= false then redis.call('ZREM', P .. 'clients', id) end
  if batch then
    batch[#batch + 1] = id
  else
    redis.call('ZREM', P .. 'active', id)
    redis.call('ZADD', P .. state, now, id)
    trimFinished(P, state, now, retentionMs)
  end
end

local function finishCancelled(P, id, reason, now, maxLen, retentionMs)
  finishJob(P, id, 'cancelled', now, maxLen, retentionMs, cjson.encode({ reason = reason }), { 'cancelReason', reason })
end

-- --- operations: pause, rate limits ---

--[[ globalConcurrency: running:<name> is the set of the jobs of the name claimed under a limit and
  still active; such a record carries `gc` = 1 (see claim-1). Every path that takes a job out of
  `active` (complete, fail, finish-cancelled, release, reclaim) calls leaveRunning with the
  record's `name` and `gc` fields: names without the limit pay nothing but the two extra fields of
  a read they make anyway. The freed slot may let a held job start, maybe in another process:
  a worker is woken when jobs wait. ]]
local function leaveRunning(P, id, name, gc)
  if not gc or not name then return end
  if redis.call('SREM', P .. 'running:' .. name, id) == 1 and redis.call('EXISTS', P .. 'waiting:' .. name) == 1 then
    pushWake(P, name)
  end
end

-- How many jobs of running set `key` run. At the limit, members that are no longer active are
-- dropped first (debris, e.g. a record deleted by hand), so a lost entry never holds a name forever.
local function countRunning(P, key, limit)
  local n = redis.call('SCARD', key)
  if n < limit then return n end
  for _, id in ipairs(redis.call('SMEMBERS', key)) do
    if redis.call('HGET', P .. 'job:' .. id, 'state') ~= 'active' then
      redis.call('SREM', key, id)
      n = n - 1
    end
  end
  return n
end
