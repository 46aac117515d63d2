-- Notes stops of undecided instances, if this replica owns the operation: being sent (an
-- empty RequestId) or accepted, with when the watch that follows must end (the graceful
-- window or the wait), on Redis's clock.
-- KEYS: meta, results, phases. ARGV: owner, ttl_ms, vendor_request_id, budget_ms ("" = none),
-- instances... Each phase is "sent:<RequestId>|<due_ms>". Returns 1, -1 when another replica
-- owns the operation, -2 when it is not kept.
redis.replicate_commands()
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return -2 end
if owner ~= ARGV[1] then return -1 end
local due = ''
if ARGV[4] ~= '' then
  local t = redis.call('TIME')
  due = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[4]))
end
for i = 5, #ARGV do
  if redis.call('HGET', KEYS[3], ARGV[i]) ~= 'done' then
    redis.call('HSET', KEYS[3], ARGV[i], 'sent:' .. ARGV[3] .. '|' .. due)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
