-- One pacing key's schedule (src/pacing/rules.rs, the same rules in Rust), updated atomically
-- on Redis's own clock, so the replicas' clocks never matter.
-- KEYS[1]: the key's hash. ARGV: op ("take" | "throttled"), interval_us, cutoff_us (-1: none),
-- retry_after_us, horizon_slots, cut_share, min_calls, decrease, margin, min_factor, judge_calls,
-- helped, helped_calls, unhelped, judge_after_us, immune_us, recovery_delay_us, recovery_per_s,
-- ttl_ms.
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
local cut_share_min = tonumber(ARGV[6])
local min_calls = tonumber(ARGV[7])
local decrease = tonumber(ARGV[8])
local margin = tonumber(ARGV[9])
local min_factor = tonumber(ARGV[10])
local judge_calls = tonumber(ARGV[11])
local helped = tonumber(ARGV[12])
local helped_calls = tonumber(ARGV[13])
local unhelped = tonumber(ARGV[14])
local judge_after = tonumber(ARGV[15])
local immune = tonumber(ARGV[16])
local recovery_delay = tonumber(ARGV[17])
local recovery = tonumber(ARGV[18])
local ttl = tonumber(ARGV[19])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 'next', 'factor', 'at', 'granted', 'throttled',
  'cut_from', 'cut_share', 'immune_until', 'cut_at')
local next_start = tonumber(h[1]) or now
local factor = tonumber(h[2]) or 1
local at = tonumber(h[3]) or now
local granted = tonumber(h[4]) or 0
local throttled = tonumber(h[5]) or 0
local cut_from = tonumber(h[6]) -- nil: no cut being judged
local cut_share = tonumber(h[7]) or 0
local immune_until = tonumber(h[8]) or 0
local cut_at = tonumber(h[9]) or 0

-- Recovery: from a while after the last cut, the factor grows back with the time since it
-- was last brought up to date.
local from = math.max(at, cut_at + recovery_delay)
if now > from then
  factor = math.min(1, factor + (now - from) / 1000000 * recovery)
end
at = math.max(at, now)

local function save()
  redis.call('HSET', KEYS[1], 'next', string.format('%.0f', next_start),
    'factor', string.format('%.17g', factor), 'at', string.format('%.0f', at),
    'granted', granted, 'throttled', throttled,
    'cut_share', string.format('%.17g', cut_share),
    'immune_until', string.format('%.0f', immune_until),
    'cut_at', string.format('%.0f', cut_at))
  if cut_from then
    redis.call('HSET', KEYS[1], 'cut_from', string.format('%.17g', cut_from))
  else
    redis.call('HDEL', KEYS[1], 'cut_from')
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
  granted = granted + 1
  save()
  return {1, wait}
elseif op == 'throttled' then
  if retry_after > 0 then
    next_start = math.max(next_start, now + retry_after)
  end
  if cut_from and now < cut_at + judge_after then
    -- Calls sent before the cut: not held against it.
    save()
    return {1, 0}
  end
  throttled = throttled + 1
  local share = throttled / math.max(granted, 1)
  local function cut()
    cut_from = factor
    cut_at = now
    cut_share = math.min(share, 1)
    factor = math.max(min_factor, factor * math.min(1 - share, decrease) * margin)
    granted = 0
    throttled = 0
  end
  if cut_from then
    if granted >= judge_calls then
      local decided = true
      if share >= unhelped * cut_share then
        factor = cut_from
        immune_until = now + immune
      elseif share >= helped * cut_share or granted < helped_calls then
        decided = false
      end
      if decided then
        cut_from = nil
        granted = 0
        throttled = 0
      end
    end
  elseif granted >= min_calls then
    if share >= cut_share_min and now >= immune_until then
      cut()
    else
      granted = 0
      throttled = 0
    end
  end
  save()
  return {1, 0}
end
return redis.error_reply('stopgate pace.lua: unknown op ' .. tostring(op))
