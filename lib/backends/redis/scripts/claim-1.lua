--[[
  claim-1: claims up to `max` jobs for each of several names in one call.

  KEYS[1] active      zset, score = lease expiry

  ARGV[1] P           key prefix
  ARGV[2] now         epoch ms
  ARGV[3] leaseMs
  ARGV[4] tokenBase   unique per call; each claimed job gets tokenBase .. '.' .. n
  ARGV[5] maxLen      event stream bound
  ARGV[6..] pairs: name, max

  Per name: first promotes delayed jobs that are due (in due order, each behind the jobs already
  waiting at its priority: a fresh queue position), then pops up to `max` waiting jobs (priority
  desc, then queue position; see queuePos in common), each: attempt + 1, startedAt,
  fresh token, lease in `active`. When the waiting zset of a name is left empty its wake list is
  deleted, so stale markers do not wake idle workers; when its delayed zset is empty too, the name
  also leaves `names` (forgetNameIfIdle). (Both only when max > 0.)

  Returns { nextDueAt, id1, record1, id2, record2, ... }: nextDueAt is the earliest due time
  among the delayed jobs of the names ('' when none); each record is the claimed job's HGETALL
  (it carries `token`, and `cancelRequested` when a cancel raced the claim).

  Events: `active` {attempt} per claimed job.
  Every event is appended to events:<id> and published on the channel evc:<id> (addEvent).
]]
-- @include common

local P = ARGV[1]
local now = ARGV[2]
local leaseUntil = string.format('%.0f', tonumber(now) + tonumber(ARGV[3]))
local tokenBase = ARGV[4]
local maxLen = ARGV[5]

local out = { '' }
local claimed = 0
-- Leases of the claimed jobs, added to `active` with one ZADD at the end.
local leases = {}
local nextDue = nil

for i = 6, #ARGV, 2 do
  local name = ARGV[i]
  local max = tonumber(ARGV[i + 1])
  local waitingKey = P .. 'waiting:' .. name
  local delayedKey = P .. 'delayed:' .. name

  promoteDue(P, name, now)

  if max > 0 then
    local popped = redis.call('ZPOPMIN', waitingKey, max)
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
        local token = tokenBase .. '.' .. claimed
        local attempt = tostring((tonumber(at.attempt and record[at.attempt]) or 0) + 1)
        redis.call('HSET', jobKey, 'state', 'active', 'attempt', attempt, 'startedAt', now, 'token', token)
        leases[#leases + 1] = leaseUntil
        leases[#leases + 1] = id
        addEvent(P, id, maxLen, 'active', '{"attempt":' .. attempt .. '}')
        record[at.state] = 'active'
        for _, pair in ipairs({ { 'attempt', attempt }, { 'startedAt', now }, { 'token', token } }) do
          if at[pair[1]] then
            record[at[pair[1]]] = pair[2]
          else
            record[#record + 1] = pair[1]
            record[#record + 1] = pair[2]
          end
        end
        out[#out + 1] = id
        out[#out + 1] = record
      end
    end
    -- Nothing left to claim: stale markers must not wake idle workers. With no delayed job either,
    -- the name leaves `names` too (the next add registers it again).
    if not forgetNameIfIdle(P, name) and redis.call('EXISTS', waitingKey) == 0 then
      redis.call('DEL', P .. 'wake:' .. name)
    end
  end

  local first = redis.call('ZRANGE', delayedKey, 0, 0, 'WITHSCORES')
  if first[2] then
    local score = tonumber(first[2])
    if nextDue == nil or score < nextDue then nextDue = score end
  end
end

for i = 1, #leases, 2 * VARIADIC_CHUNK do
  redis.call('ZADD', KEYS[1], unpack(leases, i, math.min(i + 2 * VARIADIC_CHUNK - 1, #leases)))
end

if nextDue ~= nil then out[1] = string.format('%.0f', nextDue) end
return out
