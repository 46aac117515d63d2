-- Reads up to ARGV[2] results from index ARGV[1], with the end once every result was read.
-- KEYS: meta, results. Returns {} when the operation is not kept, else
-- {total, end_kind, end_code, end_message, end_body, messages...}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local from = tonumber(ARGV[1])
local total = redis.call('LLEN', KEYS[2])
local messages = redis.call('LRANGE', KEYS[2], from, from + tonumber(ARGV[2]) - 1)
local e = redis.call('HMGET', KEYS[1], 'end_kind', 'end_code', 'end_message', 'end_body')
local answer = {tostring(total), e[1] or '', e[2] or '', e[3] or '', e[4] or ''}
for i = 1, #messages do answer[#answer + 1] = messages[i] end
return answer
