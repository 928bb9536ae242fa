--[[
  fire-schedule-3: one tick of a schedule, atomically: compare-and-set of its state, then the job.
  Of many processes that saw the same due tick, exactly one gets past the compare-and-set.

  KEYS[1] sched-state  hash: schedule id -> '<rev> <count> <nextAt or ->'
  KEYS[2] sched-due    zset: schedule id -> nextAt (only schedules with a next tick)
  KEYS[3] names        set of the names that have waiting/delayed jobs (see rememberName in common)

  ARGV[1] P            key prefix
  ARGV[2] maxLen       event stream bound
  ARGV[3] scheduleId
  ARGV[4] rev          the version the caller computed the tick from
  ARGV[5] expectedAt   the tick being fired: the nextAt the caller read
  ARGV[6] nextAt       the following tick ('' = none: the schedule is exhausted)
  ARGV[7..19] the tick's job: the 13 fields of add-6 (its id is derived from schedule and tick;
               createJob reads the first 12)

  Returns 0 when the state no longer has rev and expectedAt (another process fired the tick, or
  the schedule was replaced or removed: nothing written); else advances and counts the tick and
  returns 2 when it added the job, 1 when an unfinished job with its id already existed.
  The tick's job is not refused by maxWaiting (a schedule cannot retry a refused tick).
  Events: `queued` for the added job (see createJob, addEvent).
]]
-- @include common
-- @include create-job

local P = ARGV[1]
local id = ARGV[3]
local state = redis.call('HGET', KEYS[1], id)
if not state then return 0 end
local rev, count, at = string.match(state, '^(%S+) (%d+) (%S+)$')
if rev ~= ARGV[4] or at ~= ARGV[5] then return 0 end

local nextAt = ARGV[6]
if nextAt == '' then
  redis.call('HSET', KEYS[1], id, rev .. ' ' .. (tonumber(count) + 1) .. ' -')
  redis.call('ZREM', KEYS[2], id)
else
  redis.call('HSET', KEYS[1], id, rev .. ' ' .. (tonumber(count) + 1) .. ' ' .. nextAt)
  redis.call('ZADD', KEYS[2], nextAt, id)
end

local jobState = redis.call('HGET', P .. 'job:' .. ARGV[7], 'state')
if jobState and not TERMINAL[jobState] then return 1 end
-- Due delayed jobs of the name became ready first (see promoteDue); ARGV[12] is the job's createdAt.
promoteDue(P, ARGV[8], ARGV[12])
createJob(P, ARGV[2], reservePositions(P, 1) + 1, jobState or '', ARGV, 7)
redis.call('SADD', KEYS[3], ARGV[8])
return 2
