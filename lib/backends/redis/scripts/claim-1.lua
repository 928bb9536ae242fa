--[[
  claim-1: claims up to `max` jobs for each of several names in one call (claimJobs in
  includes/claim-jobs.lua says how, what it holds back, and what it returns).

  KEYS[1] active      zset, score = lease expiry

  ARGV[1] P           key prefix
  ARGV[2] now         epoch ms
  ARGV[3] leaseMs
  ARGV[4] tokenBase   unique per call; each claimed job gets tokenBase .. '.' .. n
  ARGV[5] maxLen      event stream bound
  ARGV[6..] groups of 5: name, max, globalConcurrency, rateMax, ratePerMs ('' = no such limit)
]]
-- @include common
-- @include claim-jobs

return claimJobs(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV, 6)
