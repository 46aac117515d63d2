-- An owner's lease: renew, release, or take over once expired.
-- KEYS: meta, results, phases. ARGV: op, me, lease_ms.
-- Returns {"gone"}, {"ended"}, {"ok"}, {"lost"}, {"held"}, or for a take-over
-- {"taken", method, fingerprint, caller, requested, unique, accepted_at, request, now_ms,
--  instance, phase, instance, phase, ...}.
redis.replicate_commands()
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {'gone'} end
if redis.call('HEXISTS', KEYS[1], 'end_kind') == 1 then return {'ended'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op, me = ARGV[1], ARGV[2]
if op == 'renew' then
  if owner ~= me then return {'lost'} end
  redis.call('HSET', KEYS[1], 'lease_until', tostring(now + tonumber(ARGV[3])))
  return {'ok'}
end
if op == 'release' then
  if owner ~= me then return {'lost'} end
  redis.call('HSET', KEYS[1], 'lease_until', '0')
  return {'ok'}
end
local lease_until = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
-- A live lease is never taken, not even one of this replica's own: an operation this replica
-- has just created may not have started yet.
if lease_until > now then return {'held'} end
redis.call('HSET', KEYS[1], 'owner', me, 'lease_until', tostring(now + tonumber(ARGV[3])))
local h = redis.call('HMGET', KEYS[1], 'method', 'fingerprint', 'caller', 'requested', 'unique', 'accepted_at', 'request')
local answer = {'taken', h[1] or '', h[2] or '', h[3] or '', h[4] or '0', h[5] or '0', h[6] or '0', h[7] or '', tostring(now)}
local phases = redis.call('HGETALL', KEYS[3])
for i = 1, #phases do answer[#answer + 1] = phases[i] end
return answer
