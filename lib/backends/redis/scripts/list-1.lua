--[[
  list-1: one page of the jobs in a state, after a position. Read-only.

  KEYS[1] the state's index: `names` (waiting, delayed), `active`, or the finished zset
          (completed / failed / cancelled)

  ARGV[1] P            key prefix
  ARGV[2] state
  ARGV[3] name         '' = every name
  ARGV[4] limit        1..1000
  ARGV[5] afterScore   '' = from the start
  ARGV[6] afterMember
  ARGV[7] since        finished states: entries finished before this (expired, not yet trimmed) end the list
  ARGV[8] scanBudget   finished states with a name: most entries examined per call (>= limit + 1)

  Orders and positions (score, member):
  - waiting: (-priority, queue position .. id) over waiting:<name>, for each name in `names` (or
    the one given): up to limit + 1 entries after the position from each, merged. O(names * (log² n + limit)).
  - delayed: (due time, id) over delayed:<name>, the same way.
  - active: (startedAt, id); `active` is ordered by lease expiry, so its ids are read and sorted by
    their records' startedAt: O(active jobs) per page, bounded by the running jobs of all processes.
  - finished: newest first, (finishedAt, id) descending. With a name (finished zsets are not per
    name) entries are examined in order until limit + 1 match or `scanBudget` were examined: the
    page may then hold fewer than `limit` jobs (even none) and still have a next position.

  Returns { nextScore, nextMember, id1, record1, id2, record2, ... }: the records (HGETALL) of the
  page, in order; nextScore = '' when nothing follows. A record that vanished is returned empty.
  Events: none.
]]
-- @include common
-- @include operations

local P = ARGV[1]
local state = ARGV[2]
local name = ARGV[3]
local limit = tonumber(ARGV[4])
local afterScore = ARGV[5]
local afterMember = ARGV[6]

-- Entries: { score (number), scoreText, member, id }.
local entries = {}
local nextScore, nextMember = '', ''
local function ascending(a, b) return positionBefore(a[1], a[3], b[1], b[3]) end

if state == 'waiting' or state == 'delayed' then
  local names = { name }
  if name == '' then names = redis.call('SMEMBERS', KEYS[1]) end
  for _, n in ipairs(names) do
    local page = entriesAfter(P .. state .. ':' .. n, afterScore, afterMember, limit + 1)
    for i = 1, #page, 2 do
      local id = page[i]
      if state == 'waiting' then id = idOfMember(id) end
      entries[#entries + 1] = { tonumber(page[i + 1]), page[i + 1], page[i], id }
    end
  end
  table.sort(entries, ascending)
elseif state == 'active' then
  local after = afterScore ~= '' and tonumber(afterScore)
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local rec = redis.call('HMGET', P .. 'job:' .. id, 'startedAt', 'name')
    local startedAt = tonumber(rec[1])
    if startedAt and (name == '' or rec[2] == name) and ((not after) or positionBefore(after, afterMember, startedAt, id)) then
      entries[#entries + 1] = { startedAt, rec[1], id, id }
    end
  end
  table.sort(entries, ascending)
else
  local since = tonumber(ARGV[7])
  local budget = tonumber(ARGV[8])
  local chunk = math.max(limit + 1, 100)
  local cursorScore, cursorMember = afterScore, afterMember
  local examined = 0
  local ended = false
  while #entries <= limit and examined < budget and not ended do
    local page = entriesBefore(KEYS[1], cursorScore, cursorMember, chunk)
    if #page == 0 then ended = true end
    for i = 1, #page, 2 do
      local id, scoreText = page[i], page[i + 1]
      if tonumber(scoreText) < since then
        ended = true
        break
      end
      examined = examined + 1
      cursorScore, cursorMember = scoreText, id
      if name == '' or redis.call('HGET', P .. 'job:' .. id, 'name') == name then
        entries[#entries + 1] = { tonumber(scoreText), scoreText, id, id }
      end
      if #entries > limit or examined >= budget then break end
    end
  end
  -- The budget ran out first: the next page goes on from the last entry examined.
  if #entries <= limit and not ended then nextScore, nextMember = cursorScore, cursorMember end
end

if #entries > limit then nextScore, nextMember = entries[limit][2], entries[limit][3] end
local out = { nextScore, nextMember }
for i = 1, math.min(limit, #entries) do
  local id = entries[i][4]
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', P .. 'job:' .. id)
end
return out
