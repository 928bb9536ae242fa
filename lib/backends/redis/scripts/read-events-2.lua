--[[
  read-events-2: reads a job's events, from its stream or, while it has none, derived from its
  record (lazy streams, see common.lua), so every reader sees the same events and ids.

  KEYS[1] job:<id>
  KEYS[2] events:<id>

  ARGV[1] P        key prefix
  ARGV[2] jobId
  ARGV[3] after    '0' = from the first event; otherwise only events after this id
  ARGV[4] count    at most this many events
  ARGV[5] newest   '1' = the newest `count` events, newest first (`after` ignored)
  ARGV[6] listen   '1' = the read of a live subscription, already subscribed to the job's channel:
                   marks the record `lsn` so lifecycle events are published to it from now on
                   (see addLifecycleEvent's hints in common.lua)

  Returns { exists, entries }: exists 1 when the job's record exists, else 0; entries as XRANGE
  (XREVRANGE for `newest`) returns them: { { id, { 't', type[, 'd', data] } }, ... }.
]]
-- @include common

local P = ARGV[1]
local after = ARGV[3]
local count = tonumber(ARGV[4])
local newest = ARGV[5] == '1'
local exists = redis.call('EXISTS', KEYS[1])
if exists == 1 and ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'lsn', '1') end

if redis.call('EXISTS', KEYS[2]) == 1 then
  if newest then return { exists, redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', count) } end
  local start = after == '0' and '-' or '(' .. after
  return { exists, redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', count) }
end

-- Ids '<ms>-<seq>' compared as numbers.
local function isAfter(id, other)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  local oms, oseq = string.match(other, '^(%d+)-(%d+)$')
  if not oms then return true end
  ms, seq, oms, oseq = tonumber(ms), tonumber(seq), tonumber(oms), tonumber(oseq)
  return ms > oms or (ms == oms and seq > oseq)
end

local function entry(e)
  if e[3] then return { e[1], { 't', e[2], 'd', e[3] } } end
  return { e[1], { 't', e[2] } }
end

local events = derivedEvents(P, ARGV[2])
local out = {}
if newest then
  for i = #events, math.max(1, #events - count + 1), -1 do out[#out + 1] = entry(events[i]) end
else
  for _, e in ipairs(events) do
    if #out < count and (after == '0' or isAfter(e[1], after)) then out[#out + 1] = entry(e) end
  end
end
return { exists, out }
