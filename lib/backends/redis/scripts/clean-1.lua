--[[
  clean-1: removes finished jobs of one state, oldest first, in a bounded batch.

  KEYS[1] the finished zset (completed / failed / cancelled), score = finishedAt

  ARGV[1] P              key prefix
  ARGV[2] state          the zset's state
  ARGV[3] finishedBefore epoch ms: only entries finished at or before this
  ARGV[4] name           '' = every name
  ARGV[5] max            most jobs removed by this call
  ARGV[6] afterScore     '' = from the oldest; else go on after this position (the previous call's)
  ARGV[7] afterMember
  ARGV[8] scanBudget     most entries examined by this call

  The caller loops until `done`, so one call never holds the server for long: at most `max`
  deletions and `scanBudget` entries examined. Each removed job: record and stream deleted
  (deleteJob in operations; no message: its streams ended with its terminal event). An entry whose record expired
  already (retention) or says another state is only dropped from the zset, and not counted.

  Returns { removed, done (1 when no entry at or before finishedBefore is left after the
  position), lastScore, lastMember (the position to go on from) }.
  Events: none.
]]
-- @include common
-- @include operations

local P = ARGV[1]
local state = ARGV[2]
local finishedBefore = tonumber(ARGV[3])
local name = ARGV[4]
local max = tonumber(ARGV[5])
local budget = tonumber(ARGV[8])
local lastScore, lastMember = ARGV[6], ARGV[7]
local removed, examined = 0, 0
local done = 0

while done == 0 and removed < max and examined < budget do
  local page = entriesAfter(KEYS[1], lastScore, lastMember, math.min(100, budget - examined))
  if #page == 0 then done = 1 end
  local dropped = {}
  for i = 1, #page, 2 do
    local id, scoreText = page[i], page[i + 1]
    if tonumber(scoreText) > finishedBefore then
      done = 1
      break
    end
    examined = examined + 1
    lastScore, lastMember = scoreText, id
    local rec = redis.call('HMGET', P .. 'job:' .. id, 'state', 'name')
    if rec[1] ~= state then
      dropped[#dropped + 1] = id
    elseif name == '' or rec[2] == name then
      dropped[#dropped + 1] = id
      if deleteJob(P, id, false) then removed = removed + 1 end
    end
    if removed >= max then break end
  end
  if #dropped > 0 then redis.call('ZREM', KEYS[1], unpack(dropped)) end
end

return { removed, done, lastScore, lastMember }
