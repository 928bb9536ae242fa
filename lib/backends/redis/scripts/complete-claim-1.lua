--[[
  complete-claim-1: completes a batch of jobs, then claims the next ones, in one call: what a
  worker sends when its handlers finished and their slots are claimed again in the same tick
  (one script call and one round trip instead of two; BullMQ finishes a job and fetches the next
  in one script too). The completions go first, so a slot they free (globalConcurrency) counts
  for the claim.

  KEYS[1] active

  ARGV[1] P            key prefix
  ARGV[2] now          epoch ms
  ARGV[3] leaseMs
  ARGV[4] tokenBase    see claimJobs
  ARGV[5] maxLen
  ARGV[6] retentionMs
  ARGV[7] n            number of completions
  ARGV[8 .. 7 + 3n]    triples: jobId, token, resultJson (see completeJobs)
  ARGV[8 + 3n ..]      claim groups of 5 (see claimJobs)

  Returns { completeResults, nextDueAt, id1, record1, ... }: completeJobs' reply, then claimJobs'.
]]
-- @include common
-- @include complete-jobs
-- @include claim-jobs

local last = 7 + 3 * tonumber(ARGV[7])
local completed = completeJobs(ARGV[1], ARGV[2], ARGV[5], ARGV[6], ARGV, 8, last)
local claimed = claimJobs(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV, last + 1)
table.insert(claimed, 1, completed)
return claimed
