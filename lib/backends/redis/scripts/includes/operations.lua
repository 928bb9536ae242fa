--[[
  Helpers of the operations scripts (list, retry, remove, clean), inlined where a script says
  `-- @include operations` (after `-- @include common`).

  Positions in a zset: a (score, member) pair, the order Redis keeps: score, then member bytes.
  A page starts right after such a position without walking the entries before it: the score part
  is two ZCOUNTs, the member part a binary search over the ranks that share the score (ZRANGE by
  rank, O(log n) each), so finding a position costs O(log² n) whatever the zset's size, and works
  for a position whose entry has left the zset meanwhile (paging never repeats nor skips an entry
  that stays). Scores are passed as text and never rebuilt from Lua numbers.
]]

-- Byte order of two strings (Lua's `<` on strings follows the server's locale).
local function bytesBefore(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Whether position (scoreA, memberA) comes before (scoreB, memberB); scores as numbers.
local function positionBefore(scoreA, memberA, scoreB, memberB)
  if scoreA ~= scoreB then return scoreA < scoreB end
  return bytesBefore(memberA, memberB)
end

-- How many entries of zset `key` come before (score, member); with `inclusive`, also the entry
-- at that position when it is there.
local function rankOf(key, score, member, inclusive)
  local lo = redis.call('ZCOUNT', key, '-inf', '(' .. score)
  local hi = redis.call('ZCOUNT', key, '-inf', score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call('ZRANGE', key, mid, mid)[1]
    if bytesBefore(m, member) or (inclusive and m == member) then lo = mid + 1 else hi = mid end
  end
  return lo
end

-- Up to `n` entries after the position (from the first without one), ascending:
-- { member1, score1, member2, score2, ... } (ZRANGE WITHSCORES).
local function entriesAfter(key, score, member, n)
  local from = 0
  if score ~= '' then from = rankOf(key, score, member, true) end
  return redis.call('ZRANGE', key, from, from + n - 1, 'WITHSCORES')
end

-- Up to `n` entries before the position (from the last without one), descending, same shape.
local function entriesBefore(key, score, member, n)
  local to
  if score ~= '' then to = rankOf(key, score, member, false) else to = redis.call('ZCARD', key) end
  if to == 0 then return {} end
  local asc = redis.call('ZRANGE', key, math.max(0, to - n), to - 1, 'WITHSCORES')
  local out = {}
  for i = #asc - 1, 1, -2 do
    out[#out + 1] = asc[i]
    out[#out + 1] = asc[i + 1]
  end
  return out
end

--[[ Deletes a job that is not active (the caller removed it from its waiting, delayed or finished
  index): its record and its events (UNLINK frees a long stream off the main thread).
  With `live` (remove: the job may be waiting, streams may be open on it) it also drops the client
  watch and sends 'removed' on the job's event channel (no space, so never an event: see
  JOB_REMOVED_MESSAGE in redis-job-record.ts), which ends its open subscriptions with
  JobNotFoundError. clean passes false: a finished job left `clients` when it finished, and its
  streams ended with its terminal event (one that starts later finds the record gone), so a
  clean of 100,000 jobs sends no 100,000 messages (on Cluster, each would cross the bus to every node).
  Returns true when the record existed. ]]
local function deleteJob(P, id, live)
  if live then
    redis.call('ZREM', P .. 'clients', id)
    publish(P .. 'evc:' .. id, 'removed')
  end
  return redis.call('UNLINK', P .. 'job:' .. id, P .. 'events:' .. id) > 0
end
