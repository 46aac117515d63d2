-- Notes a state-changing vendor call's RequestId, in order, if this replica owns the operation.
-- KEYS: meta, results, phases. ARGV: owner, vendor_request_id.
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return -2 end
if owner ~= ARGV[1] then return -1 end
if redis.call('HEXISTS', KEYS[1], 'call:' .. ARGV[2]) == 0 then
  local n = redis.call('HINCRBY', KEYS[1], 'calls', 1)
  redis.call('HSET', KEYS[1], 'call:' .. ARGV[2], n)
end
return 1
