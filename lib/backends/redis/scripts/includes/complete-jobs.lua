--[[
  Completing, shared by complete-1 and complete-claim-1 (include after common).

  completeJobs(P, now, maxLen, retentionMs, args, first, last): active -> completed for the jobs
  given as triples jobId, token, resultJson in args[first..last], each fenced by its claim token.

  Returns one entry per job, in order: 1 (completed), 2 (cancelled: a cancel was requested before
  the result was written, and a cancel always wins, so a 'cancelling' answer never ends completed;
  the result is discarded), or 0 when its token is stale (nothing written for it).
  Events: `completed` {result} per completed job, `cancelled` {reason} per cancelled one.
  Events are appended to events:<id>, or derived from the record while the job has no stream
  (lazy streams, common.lua), and published on the channel evc:<id>.
  A job claimed under a globalConcurrency limit leaves its running set (leaveRunning).
  Terminal: record and stream expire after retentionMs; removed from active/clients; added to
  the completed zset, which is trimmed by retention; the zset updates are made once per batch.
  Batched because a completion is the hottest write: one script call for every job that finished
  in the same tick of a worker process saves a round trip and a script invocation per job.
]]
local function completeJobs(P, now, maxLen, retentionMs, args, first, last)
  local out = {}
  local batch = {} -- ids of the jobs completed here, for flushFinishBatch
  for i = first, last, 3 do
    local id, token, result = args[i], args[i + 1], args[i + 2]
    local rec = redis.call('HMGET', P .. 'job:' .. id, 'token', 'state', 'cancelRequested', 'watchClient', 'name', 'gc',
      'createdAt', 'delayMs', 'startedAt', 'attempt', 'ns', 'lsn')
    if rec[1] ~= token or rec[2] ~= 'active' then
      out[#out + 1] = 0
    elseif rec[3] then
      leaveRunning(P, id, rec[5], rec[6])
      finishCancelled(P, id, rec[3], now, maxLen, retentionMs)
      out[#out + 1] = 2
    else
      leaveRunning(P, id, rec[5], rec[6])
      -- The result is JSON already: embed it rather than decode and re-encode it.
      finishJob(P, id, 'completed', now, maxLen, retentionMs, '{"result":' .. result .. '}',
        { 'result', result }, false, rec[4] ~= false, batch, { rec[7], rec[8], rec[9], rec[10], rec[11], rec[12] })
      out[#out + 1] = 1
    end
  end
  -- One ZREM, one ZADD and one retention trim for the whole batch.
  flushFinishBatch(P, batch, 'completed', now, retentionMs)
  return out
end
