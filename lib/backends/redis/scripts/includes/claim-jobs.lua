--[[
  Claiming, shared by claim-1 and complete-claim-1 (include after common).

  claimJobs(P, activeKey, now, leaseMs, tokenBase, maxLen, args, first): claims up to `max` jobs
  for each of several names. activeKey: the `active` zset (score = lease expiry); tokenBase: unique
  per call, each claimed job gets tokenBase .. '.' .. n; args[first..]: groups of 5: name, max,
  globalConcurrency, rateMax, ratePerMs ('' = no such limit).

  Per name: first promotes delayed jobs that are due (in due order, each behind the jobs already
  waiting at its priority: a fresh queue position), then pops up to `max` waiting jobs (priority
  desc, then queue position; see queuePos in common), each: attempt + 1, startedAt,
  fresh token, lease in `active`. When the waiting zset of a name is left empty its wake list is
  deleted, so stale markers do not wake idle workers; when its delayed zset is empty too, the name
  also leaves `names` (forgetNameIfIdle). (Both only when max > 0.)

  Holds (jobs stay waiting; the name's wake list is deleted, as its markers cannot be served until
  the hold ends, and whatever ends it wakes the workers again):
  - paused: `paused` holds '' (the whole queue) or the name: nothing is claimed (resume-1 wakes).
  - globalConcurrency: at most that many members in running:<name>, the jobs of the name claimed
    under the limit and still active (the record gets `gc` = 1; every path that leaves active
    calls leaveRunning, which wakes a worker).
  - rateMax/ratePerMs: rl:<name> holds the start times of the window (member = claim token); at
    most rateMax of them in any ratePerMs; it expires a minute after the window of its newest
    start. Start times never go backwards (a claim whose `now` is older than the newest start
    uses that one), so the window is exact whatever the order in which processes' claims arrive.
    When the window is full, the time it next allows a start counts as a due time for nextDueAt.
  Names without these limits pay one EXISTS on `paused` per call, nothing per name.

  Returns { nextDueAt, id1, record1, id2, record2, ... }: nextDueAt is the earliest due time
  among the delayed jobs of the unpaused names that got fewer jobs than they asked for (one that got
  all may have more waiting: its caller claims again rather than wait, and that claim reports it)
  and the rate windows that hold jobs back ('' when none); each record is the claimed job's HGETALL
  (it carries `token`, and `cancelRequested` when a cancel raced the claim).

  Events: `active` {attempt} per claimed job.
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.
]]

-- The attempt after the record's, for the usual ones without a number conversion (see msString in common).
local NEXT_ATTEMPT = { ['0'] = '1', ['1'] = '2', ['2'] = '3', ['3'] = '4', ['4'] = '5' }

-- How long a rate window is kept past perMs after its newest start (see the PEXPIRE below).
local RATE_WINDOW_GRACE_MS = 60000

-- Sets field `name` of an HGETALL reply `record` (indexed by `at`: field -> value position).
local function patchField(record, at, name, value)
  if at[name] then
    record[at[name]] = value
  else
    record[#record + 1] = name
    record[#record + 1] = value
  end
end

local function claimJobs(P, activeKey, now, leaseMs, tokenBase, maxLen, args, first)
  local leaseUntil = string.format('%.0f', tonumber(now) + tonumber(leaseMs))

  local out = { '' }
  local claimed = 0
  -- Leases of the claimed jobs, added to `active` with one ZADD at the end.
  local leases = {}
  local nextDue = nil
  local function dueAt(score)
    if nextDue == nil or score < nextDue then nextDue = score end
  end

  local pausedKey = P .. 'paused'
  local anyPaused = redis.call('EXISTS', pausedKey) == 1
  local queuePaused = anyPaused and redis.call('SISMEMBER', pausedKey, '') == 1

  for i = first, #args, 5 do
    local name = args[i]
    local max = tonumber(args[i + 1])
    local gcLimit = tonumber(args[i + 2])
    local rateMax = tonumber(args[i + 3])
    local ratePerMs = tonumber(args[i + 4])
    local waitingKey = P .. 'waiting:' .. name
    local delayedKey = P .. 'delayed:' .. name
    local paused = queuePaused or (anyPaused and redis.call('SISMEMBER', pausedKey, name) == 1)

    promoteDue(P, name, now)

    local got = 0
    if paused then
      if max > 0 then redis.call('DEL', P .. 'wake:' .. name) end
    elseif max > 0 then
      local take = max
      local startedAt = now
      local runningKey, rateKey
      local starts = {}
      if gcLimit then
        runningKey = P .. 'running:' .. name
        take = math.min(take, gcLimit - countRunning(P, runningKey, gcLimit))
      end
      if rateMax then
        rateKey = P .. 'rl:' .. name
        local newest = redis.call('ZRANGE', rateKey, -1, -1, 'WITHSCORES')[2]
        if newest and tonumber(newest) > tonumber(startedAt) then startedAt = newest end
        redis.call('ZREMRANGEBYSCORE', rateKey, '-inf', tonumber(startedAt) - ratePerMs)
        take = math.min(take, rateMax - redis.call('ZCARD', rateKey))
      end
      local popped = take > 0 and redis.call('ZPOPMIN', waitingKey, take) or {}
      for j = 1, #popped, 2 do
        local id = idOfMember(popped[j])
        local jobKey = P .. 'job:' .. id
        -- One read of the record serves the state check and the reply; the reply is patched with
        -- what this claim writes instead of being read again.
        -- pcall: a key of another type under the job's name must not fail the claim of every job.
        local record = redis.pcall('HGETALL', jobKey)
        if record.err then record = {} end
        local at = {}
        for f = 1, #record, 2 do at[record[f]] = f + 1 end
        -- A waiting entry without a waiting record is debris (e.g. a record deleted by hand): drop it.
        -- A waiting record that is otherwise unreadable is still claimed: the caller fails it visibly.
        if at.state and record[at.state] == 'waiting' then
          claimed = claimed + 1
          got = got + 1
          local token = tokenBase .. '.' .. claimed
          local previous = at.attempt and record[at.attempt]
          local attempt = NEXT_ATTEMPT[previous] or tostring((tonumber(previous) or 0) + 1)
          if runningKey then
            redis.call('HSET', jobKey, 'state', 'active', 'attempt', attempt, 'startedAt', startedAt, 'token', token, 'gc', '1')
            redis.call('SADD', runningKey, id)
          else
            redis.call('HSET', jobKey, 'state', 'active', 'attempt', attempt, 'startedAt', startedAt, 'token', token)
          end
          if rateKey then
            starts[#starts + 1] = startedAt
            starts[#starts + 1] = token
          end
          leases[#leases + 1] = leaseUntil
          leases[#leases + 1] = id
          -- What derivedEvents would read, known from the record just read and written.
          local known = { at.createdAt and record[at.createdAt], at.delayMs and record[at.delayMs], startedAt, attempt, 'active' }
          local hints = { at.ns and record[at.ns], at.lsn and record[at.lsn] }
          addLifecycleEvent(P, id, maxLen, 'active', '{"attempt":' .. attempt .. '}', known, nil, hints)
          record[at.state] = 'active'
          patchField(record, at, 'attempt', attempt)
          patchField(record, at, 'startedAt', startedAt)
          patchField(record, at, 'token', token)
          out[#out + 1] = id
          out[#out + 1] = record
        end
      end
      if rateKey and #starts > 0 then
        redis.call('ZADD', rateKey, unpack(starts))
        -- The window must outlive its newest start by more than perMs: a claim's `now` is taken in its
        -- process before the call, so a late one may carry an older time than the server's clock.
        -- Expiring right after perMs could forget a start such a claim still has to count.
        redis.call('PEXPIRE', rateKey, ratePerMs + RATE_WINDOW_GRACE_MS)
      end
      if take < max and redis.call('EXISTS', waitingKey) == 1 then
        -- Held back by a limit: markers cannot be served before a slot frees (leaveRunning pushes
        -- one) or the window opens (reported as a due time).
        redis.call('DEL', P .. 'wake:' .. name)
        if rateKey then
          local count = redis.call('ZCARD', rateKey)
          if count >= rateMax then
            dueAt(tonumber(redis.call('ZRANGE', rateKey, count - rateMax, count - rateMax, 'WITHSCORES')[2]) + ratePerMs)
          end
        end
      elseif redis.call('EXISTS', waitingKey) == 0 and not forgetNameIfIdle(P, name) then
        -- Nothing left to claim: stale markers must not wake idle workers. With no delayed job either,
        -- the name leaves `names` too (the next add registers it again). (Checked in this order: with a
        -- backlog, one EXISTS is the whole cost.)
        redis.call('DEL', P .. 'wake:' .. name)
      end
    end

    if not paused and (max == 0 or got < max) then
      local soonest = redis.call('ZRANGE', delayedKey, '0', '0', 'WITHSCORES')
      if soonest[2] then dueAt(tonumber(soonest[2])) end
    end
  end

  for i = 1, #leases, 2 * VARIADIC_CHUNK do
    redis.call('ZADD', activeKey, unpack(leases, i, math.min(i + 2 * VARIADIC_CHUNK - 1, #leases)))
  end

  if nextDue ~= nil then out[1] = string.format('%.0f', nextDue) end
  return out
end
