-- Creates an operation, or describes the one that has this id.
-- KEYS: meta, results, phases. ARGV: owner, lease_ms, ttl_ms, method, fingerprint, caller,
-- requested, unique, accepted_at_ms, request.
-- Returns {"created"} or {"existing", method, fingerprint, caller, requested, unique,
-- accepted_at_ms, recorded, ended ("1"/"0")}.
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[1]) == 1 then
  local h = redis.call('HMGET', KEYS[1], 'method', 'fingerprint', 'caller', 'requested', 'unique', 'accepted_at', 'end_kind')
  local ended = '0'
  if h[7] then ended = '1' end
  return {'existing', h[1] or '', h[2] or '', h[3] or '', h[4] or '0', h[5] or '0', h[6] or '0',
          tostring(redis.call('LLEN', KEYS[2])), ended}
end
-- Leftovers of an earlier operation under this id (its meta expired first) are not inherited.
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'method', ARGV[4], 'fingerprint', ARGV[5], 'caller', ARGV[6],
  'requested', ARGV[7], 'unique', ARGV[8], 'accepted_at', ARGV[9], 'request', ARGV[10],
  'owner', ARGV[1], 'lease_until', tostring(now + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'created'}
