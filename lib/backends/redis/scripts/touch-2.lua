--[[
  touch-2: client activity heartbeat.

  KEYS[1] job:<id>
  KEYS[2] clients     zset of unfinished watchClient jobs, score = last activity

  ARGV[1] jobId
  ARGV[2] now         epoch ms

  Returns 0 when the job is unknown, 1 when it is not watched, 2 when it was touched. Only jobs
  already in `clients` are touched: jobs without watchClient, finished jobs and cancel-requested
  jobs are not in it.
  Events: none.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) == false then return 1 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 2
