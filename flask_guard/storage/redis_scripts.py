"""The breaker's rules in Lua: one atomic script per step, for :mod:`.redis`.

They mirror :class:`flask_guard.breaker_states.BreakerMachine` for consecutive counting,
half-open leases and the operator commands (sliding windows are judged in each process);
the model-based test drives both against one model. Each script reads the state, applies
one step, bumps the version and publishes it if the state moved, and answers with the state
and who made its latest transition, for what reason.

KEYS: the breaker's hash, its leases (a sorted set of expiry times).
ARGV: channel, name, origin, recovery (ms), key TTL (s), now (ms, or "" for Redis ``TIME``),
cause of a transition this step makes, failures and rejections to add to the fleet's
counts, then the script's own arguments.
"""

from __future__ import annotations

PRELUDE = """
local key, leases = KEYS[1], KEYS[2]
local channel, name, origin = ARGV[1], ARGV[2], ARGV[3]
local recovery, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local now
if ARGV[6] == '' then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
else
  now = tonumber(ARGV[6])
end
local cause = ARGV[7]
local h = redis.call('HMGET', key, 's', 'v', 'f', 'o', 'x', 'e', 'm', 'r')
local state = h[1] or 'closed'
local version = tonumber(h[2] or '0')
local failures = tonumber(h[3] or '0')
local opened = tonumber(h[4] or '0')
local forced = h[5] == '1'
-- A new lineage each time the key is created (first use, expiry, a Redis that restarted
-- empty): versions only compare within one.
local epoch = h[6] or (origin .. ':' .. now)
local maker, reason = h[7] or '', h[8] or ''
if state ~= 'closed' and state ~= 'open' and state ~= 'half_open' then
  return redis.error_reply('breaker state is not one of closed, open, half_open')
end
local counted = tonumber(ARGV[8]) + tonumber(ARGV[9])
if counted > 0 then
  redis.call('HINCRBY', key, 'n', ARGV[8])
  redis.call('HINCRBY', key, 'j', ARGV[9])
end
local changed = 0
local function bump()
  version = version + 1
  maker, reason = origin, cause
  redis.call('PUBLISH', channel, name .. '\\n' .. version .. '\\n' .. origin)
end
local function move(new_state)
  state = new_state
  changed = 1
  redis.call('DEL', leases)
  redis.call('HSET', key, 't', 0)
  bump()
end
local function answer(admitted)
  local remaining = 0
  if state == 'open' then
    if forced then remaining = recovery else remaining = math.max(0, opened + recovery - now) end
  end
  local counts = redis.call('HMGET', key, 'n', 'j')
  return {state, version, failures, remaining, forced and 1 or 0, changed, admitted and 1 or 0,
          epoch, maker, reason, tonumber(counts[1] or '0'), tonumber(counts[2] or '0')}
end
local function reply(admitted)
  redis.call('HSET', key, 's', state, 'v', version, 'f', failures, 'o', opened,
             'x', forced and '1' or '0', 'e', epoch, 'm', maker, 'r', reason)
  redis.call('EXPIRE', key, ttl)
  return answer(admitted)
end
"""

SCRIPTS = {
    "read": """
if counted > 0 then return reply(false) end
return answer(false)
""",
    "failure": """
if state == 'closed' then
  failures = failures + 1
  if failures >= tonumber(ARGV[10]) then opened = now; move('open') end
end
return reply(false)
""",
    "success": """
if state == 'closed' then failures = 0 end
return reply(false)
""",
    "acquire": """
if state == 'open' and not forced and now >= opened + recovery then move('half_open') end
if state == 'half_open' then
  -- A lease that expired frees its permit, but stays until the episode ends, so that a
  -- trial slower than the lease still reports its outcome.
  if redis.call('ZCOUNT', leases, now, '+inf') < tonumber(ARGV[10]) then
    redis.call('ZADD', leases, now + recovery, ARGV[11])
    redis.call('PEXPIRE', leases, recovery * 10)
    return reply(true)
  end
end
return reply(state == 'closed')
""",
    "finish": """
local held = redis.call('ZREM', leases, ARGV[10]) == 1
if held and state == 'half_open' then
  if ARGV[11] == 'fail' then
    opened = now; move('open')
  elseif ARGV[11] == 'ok' and redis.call('HINCRBY', key, 't', 1) >= tonumber(ARGV[12]) then
    failures = 0; move('closed')
  end
end
return reply(false)
""",
    "command": """
local command = ARGV[10]
if command == 'open' then
  if state ~= 'open' then opened = now; move('open') end
elseif command == 'force_open' then
  if not forced then forced = true; bump() end
  if state ~= 'open' then opened = now; move('open') end
else
  failures = 0
  if forced then forced = false; bump() end
  if state ~= 'closed' then move('closed') end
  if command == 'reset' then redis.call('HSET', key, 'n', 0, 'j', 0) end
end
return reply(false)
""",
}
