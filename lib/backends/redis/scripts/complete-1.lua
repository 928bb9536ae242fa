--[[
  complete-1: active -> completed for a batch of jobs, each fenced by its claim token
  (completeJobs in includes/complete-jobs.lua says how and what it returns).

  KEYS[1] active      (declares the queue's slot; every key below shares its hash tag)

  ARGV[1] P           key prefix
  ARGV[2] now         epoch ms
  ARGV[3] maxLen
  ARGV[4] retentionMs
  ARGV[5..] triples: jobId, token, resultJson
]]
-- @include common
-- @include complete-jobs

return completeJobs(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV, 5, #ARGV)
