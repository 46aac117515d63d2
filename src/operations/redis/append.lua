-- Appends decided results, each instance at most once, if this replica owns the operation.
-- KEYS: meta, results, phases. ARGV: owner, ttl_ms, unique ("" = unchanged), then triples
-- (instance, outcome, message). Returns how many were added, or -1 when not the owner.
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return -1 end
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
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return added
