-- One pacing key's schedule (src/pacing/rules.rs, the same rules in Rust), updated atomically
-- on Redis's own clock, so the replicas' clocks never matter.
-- KEYS[1]: the key's hash. ARGV: op ("take" | "throttled"), interval_us, cutoff_us (-1: none),
-- retry_after_us, horizon_slots, decrease, min_factor, decrease_every_us, recovery_per_s,
-- throttle_pause_us, ttl_ms.
-- "take" answers {1, wait_us} (granted), {0, wait_us} (ask again then) or {2, 0} (too late).
-- Redis 3.2 to 4.x replicate a script that reads TIME and then writes only when told to
-- replicate its effects; later versions always do (and keep this call as a no-op).
if redis.replicate_commands then
  redis.replicate_commands()
end

local op = ARGV[1]
local interval = tonumber(ARGV[2])
local cutoff = tonumber(ARGV[3])
local retry_after = tonumber(ARGV[4])
local horizon_slots = tonumber(ARGV[5])
local decrease = tonumber(ARGV[6])
local min_factor = tonumber(ARGV[7])
local decrease_every = tonumber(ARGV[8])
local recovery = tonumber(ARGV[9])
local throttle_pause = tonumber(ARGV[10])
local ttl = tonumber(ARGV[11])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 'next', 'factor', 'at', 'cut')
local next_start = tonumber(h[1]) or now
local factor = tonumber(h[2]) or 1
local at = tonumber(h[3]) or now
local cut = tonumber(h[4])

-- Recovery: the factor grows back with the time since it was last brought up to date.
if now > at then
  factor = math.min(1, factor + (now - at) / 1000000 * recovery)
  at = now
end

local function save()
  redis.call('HSET', KEYS[1], 'next', string.format('%.0f', next_start),
    'factor', string.format('%.17g', factor), 'at', string.format('%.0f', at))
  if cut then
    redis.call('HSET', KEYS[1], 'cut', string.format('%.0f', cut))
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
end

if op == 'take' then
  local spacing = interval / factor
  local start = math.max(next_start, now)
  local wait = start - now
  if cutoff >= 0 and wait >= cutoff then
    return {2, 0}
  end
  local horizon = math.floor(spacing * horizon_slots)
  if wait > horizon then
    save()
    return {0, wait - horizon}
  end
  next_start = start + math.floor(spacing)
  save()
  return {1, wait}
elseif op == 'throttled' then
  if not cut or now - cut >= decrease_every then
    factor = math.max(min_factor, factor * decrease)
    cut = now
  end
  local pause = throttle_pause
  if retry_after > 0 then
    pause = retry_after
  end
  next_start = math.max(next_start, now + pause)
  save()
  return {1, 0}
end
return redis.error_reply('stopgate pace.lua: unknown op ' .. tostring(op))
