--[[
  complete-1: active -> completed for a batch of jobs, each fenced by its claim token.

  KEYS[1] active      (declares the queue's slot; every key below shares its hash tag)

  ARGV[1] P           key prefix
  ARGV[2] now         epoch ms
  ARGV[3] maxLen
  ARGV[4] retentionMs
  ARGV[5..] triples: jobId, token, resultJson

  Returns one entry per job, in order: 1 (completed), 2 (cancelled: a cancel was requested before
  the result was written, and a cancel always wins, so a 'cancelling' answer never ends completed;
  the result is discarded), or 0 when its token is stale (nothing written for it).
  Events: `completed` {result} per completed job, `cancelled` {reason} per cancelled one.
  Every event is appended to events:<id> and published on the channel evc:<id> (addEvent).
  A job claimed under a globalConcurrency limit leaves its running set (leaveRunning).
  Terminal: record and stream expire after retentionMs; removed from active/clients; added to
  the completed zset, which is trimmed by retention; the zset updates are made once per batch.
  Batched because a completion is the hottest write: one script call for every job that finished
  in the same tick of a worker process saves a round trip and a script invocation per job.
]]
-- @include common

local P = ARGV[1]
local now = ARGV[2]
local out = {}
local batch = {} -- ids of the jobs completed here, for flushFinishBatch
for i = 5, #ARGV, 3 do
  local id, token, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local rec = redis.call('HMGET', P .. 'job:' .. id, 'token', 'state', 'cancelRequested', 'watchClient', 'name', 'gc')
  if rec[1] ~= token or rec[2] ~= 'active' then
    out[#out + 1] = 0
  elseif rec[3] then
    leaveRunning(P, id, rec[5], rec[6])
    finishCancelled(P, id, rec[3], now, ARGV[3], ARGV[4])
    out[#out + 1] = 2
  else
    leaveRunning(P, id, rec[5], rec[6])
    -- The result is JSON already: embed it rather than decode and re-encode it.
    finishJob(P, id, 'completed', now, ARGV[3], ARGV[4], '{"result":' .. result .. '}',
      { 'result', result }, false, rec[4] ~= false, batch)
    out[#out + 1] = 1
  end
end
-- One ZREM, one ZADD and one retention trim for the whole batch.
flushFinishBatch(P, batch, 'completed', now, ARGV[4])
return out
