-- Appends decided results, each instance at most once, if this replica owns the operation.
-- KEYS: meta, results, phases. ARGV: owner, ttl_ms, unique ("" = unchanged), then triples
-- (instance, outcome, message). Returns how many were added, -1 when another replica owns the
-- operation, -2 when it is not kept (expired, or a Redis that restarted empty).
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return -2 end
if owner ~= ARGV[1] then return -1 end
local added = 0
for i = 4, #ARGV, 3 do
  if redis.call('HGET', KEYS[3], ARGV[i]) ~= 'done' then
    redis.call('HSET', KEYS[3], ARGV[i], 'done')
    redis.call('RPUSH', KEYS[2], ARGV[i + 2])
    redis.call('HINCRBY', KEYS[1], 'count:' .. ARGV[i + 1], 1)
    added = added + 1
  end
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'unique', ARGV[3]) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return added
