-- Records the end, if this replica owns the operation; retention starts now.
-- KEYS: meta, results, phases. ARGV: owner, retention_ms, kind, code, message, body.
-- Idempotent: an end already recorded (a retry whose first answer was lost) is success.
if redis.call('HEXISTS', KEYS[1], 'end_kind') == 1 then return 1 end
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return -2 end
if owner ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'end_kind', ARGV[3], 'end_code', ARGV[4], 'end_message', ARGV[5],
  'end_body', ARGV[6], 'owner', '', 'lease_until', '0')
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1
