--[[
  counts-5: number of jobs per state (finished ones while retained).

  KEYS[1] names  KEYS[2] active  KEYS[3] completed  KEYS[4] failed  KEYS[5] cancelled

  ARGV[1] P            key prefix
  ARGV[2] now          epoch ms
  ARGV[3] retentionMs

  Returns { waiting, delayed, active, completed, failed, cancelled }. waiting/delayed are summed
  over the names in `names` (every name with a waiting or delayed job is there; idle names are
  dropped, see forgetNameIfIdle in common); active and finished jobs come from their own zsets.
  Finished zsets are counted from now - retentionMs on (their entries are trimmed lazily, on
  later transitions).
  Events: none. Read-only.
]]
local P = ARGV[1]
local waiting, delayed = 0, 0
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  waiting = waiting + redis.call('ZCARD', P .. 'waiting:' .. name)
  delayed = delayed + redis.call('ZCARD', P .. 'delayed:' .. name)
end
local since = string.format('%.0f', tonumber(ARGV[2]) - tonumber(ARGV[3]))
return {
  waiting,
  delayed,
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCOUNT', KEYS[3], since, '+inf'),
  redis.call('ZCOUNT', KEYS[4], since, '+inf'),
  redis.call('ZCOUNT', KEYS[5], since, '+inf'),
}
