-- Notes accepted stops of undecided instances, if this replica owns the operation.
-- KEYS: meta, results, phases. ARGV: owner, ttl_ms, vendor_request_id, instances...
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return -1 end
for i = 4, #ARGV do
  if redis.call('HGET', KEYS[3], ARGV[i]) ~= 'done' then
    redis.call('HSET', KEYS[3], ARGV[i], 'sent:' .. ARGV[3])
  end
end
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
