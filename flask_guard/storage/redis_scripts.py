"""The breaker's rules in Lua: one atomic script per step, for :mod:`.redis`.

They mirror :class:`flask_guard.breaker.states.BreakerMachine` for consecutive counting,
half-open leases and the operator commands (sliding windows are judged in each process);
the model-based test drives both against one model. Each script checks that the stored
state is one the scripts could have written, applies one step, bumps the version and
publishes it if the state moved, and answers with the state and who made its latest
transition, for what reason.

KEYS: the breaker's hash, its leases (a sorted set of expiry times); both carry the
breaker's name as hash tag, so each script touches one Redis Cluster slot.
ARGV: channel, name, origin, recovery (ms), key TTL (s), now (ms, or "" for Redis ``TIME``),
cause of a transition this step makes, failures and rejections to add to the fleet's
counts, an opening this process made on its own (``"<age ms> <reason> <forced 0|1>"`` or
""), then the script's own arguments.

The hash: ``s`` state, ``v`` version, ``f`` failures, ``o`` opened at (ms), ``w`` when the
latest transition happened (ms), ``t`` trial successes, ``n`` and ``j`` the fleet's
failures and rejections, ``x`` forced open (0 or 1), ``e`` epoch, ``m`` maker, ``r`` reason.
"""

from __future__ import annotations

#: The longest a stored count or time may be, in digits: below 2**53, where a Lua number
#: still counts by one.
MAX_DIGITS = 15

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
-- A reset starts the breaker afresh over whatever its keys held: the cure for corrupt ones.
if cause == 'reset' then redis.call('DEL', key, leases) end
local h = redis.call('HMGET', key, 's', 'v', 'f', 'o', 'w', 't', 'n', 'j', 'x', 'e', 'm', 'r')
-- A value no script writes is corruption: refuse the whole key before acting on any of it.
local function corrupt(field, value)
  return redis.error_reply('CORRUPT ' .. field .. ' ' .. string.sub(value, 1, 40))
end
for i, field in ipairs({'v', 'f', 'o', 'w', 't', 'n', 'j'}) do
  local value = h[i + 1]
  if value and (#value > 15 or not string.find(value, '^%d+$')) then
    return corrupt(field, value)
  end
end
local state = h[1] or 'closed'
if state ~= 'closed' and state ~= 'open' and state ~= 'half_open' then
  return corrupt('s', state)
end
local version, failures = tonumber(h[2] or '0'), tonumber(h[3] or '0')
local opened, when = tonumber(h[4] or '0'), tonumber(h[5] or '0')
-- Times are Redis' own: a little ahead is a failover to a host whose clock lags, a day is not.
if opened > now + 86400000 then return corrupt('o', h[4]) end
if when > now + 86400000 then return corrupt('w', h[5]) end
if h[9] and h[9] ~= '0' and h[9] ~= '1' then return corrupt('x', h[9]) end
local forced = h[9] == '1'
-- A new lineage each time the key is created (first use, expiry, a reset, a Redis that
-- restarted empty): versions only compare within one. Redis' own microseconds keep two
-- lineages apart even when a test's clock stands still.
local epoch = h[10] or (origin .. ':' .. table.concat(redis.call('TIME'), '.'))
local maker, reason = h[11] or '', h[12] or ''
if #epoch > 80 then return corrupt('e', epoch) end
if #maker > 40 then return corrupt('m', maker) end
if #reason > 40 or not string.find(reason, '^[a-z_]*$') then return corrupt('r', reason) end
-- A reset's counts start from nothing.
local counted = 0
if cause ~= 'reset' then counted = tonumber(ARGV[8]) + tonumber(ARGV[9]) end
if counted > 0 then
  redis.call('HINCRBY', key, 'n', ARGV[8])
  redis.call('HINCRBY', key, 'j', ARGV[9])
end
local changed = 0
local function bump(why)
  version = version + 1
  maker, reason, when = origin, why, now
  redis.call('PUBLISH', channel, name .. '\\n' .. version .. '\\n' .. origin)
end
local function move(new_state, why)
  state = new_state
  changed = 1
  redis.call('DEL', leases)
  redis.call('HSET', key, 't', 0)
  bump(why)
end
-- An opening this process made while it could not ask Redis is kept, unless Redis shows a
-- transition after it: the more severe state wins, with the recovery time it has left.
local merged = false
local age, why, force = string.match(ARGV[10], '^(%d+) ([a-z_]+) ([01])$')
if age then
  local since = now - tonumber(age)
  if when <= since and not forced then
    merged = true
    forced = force == '1'
    if state ~= 'open' then
      opened = since
      move('open', why)
    elseif opened < since or forced then
      opened = math.max(opened, since)
      bump(why)
    end
    when = since
  end
end
local function answer(admitted)
  local remaining = 0
  if state == 'open' then
    remaining = recovery
    if not forced then remaining = math.min(recovery, math.max(0, opened + recovery - now)) end
  end
  local counts = redis.call('HMGET', key, 'n', 'j')
  return {state, version, failures, remaining, forced and 1 or 0, changed, admitted and 1 or 0,
          epoch, maker, reason, tonumber(counts[1] or '0'), tonumber(counts[2] or '0')}
end
local function reply(admitted)
  redis.call('HSET', key, 's', state, 'v', version, 'f', failures, 'o', opened, 'w', when,
             'x', forced and '1' or '0', 'e', epoch, 'm', maker, 'r', reason)
  redis.call('EXPIRE', key, ttl)
  return answer(admitted)
end
"""

SCRIPTS = {
    "read": """
if counted > 0 or merged then return reply(false) end
return answer(false)
""",
    "failure": """
if state == 'closed' then
  failures = failures + 1
  if failures >= tonumber(ARGV[11]) then opened = now; move('open', cause) end
end
return reply(false)
""",
    "success": """
if state == 'closed' then failures = 0 end
return reply(false)
""",
    "acquire": """
if state == 'open' and not forced and now >= opened + recovery then move('half_open', cause) end
if state == 'half_open' then
  -- A lease that expired frees its permit, but stays until the episode ends, so that a
  -- trial slower than the lease still reports its outcome. A lease beyond any this
  -- breaker grants (a foreign or corrupt score) holds no permit.
  if redis.call('ZCOUNT', leases, now, now + recovery) < tonumber(ARGV[11]) then
    redis.call('ZADD', leases, now + recovery, ARGV[12])
    redis.call('PEXPIRE', leases, recovery * 10)
    return reply(true)
  end
end
return reply(state == 'closed')
""",
    "finish": """
local held = redis.call('ZREM', leases, ARGV[11]) == 1
if held and state == 'half_open' then
  if ARGV[12] == 'fail' then
    opened = now; move('open', cause)
  elseif ARGV[12] == 'ok' and redis.call('HINCRBY', key, 't', 1) >= tonumber(ARGV[13]) then
    failures = 0; move('closed', cause)
  end
end
return reply(false)
""",
    "command": """
local command = ARGV[11]
if command == 'open' then
  if state ~= 'open' then opened = now; move('open', cause) end
elseif command == 'force_open' then
  if not forced then forced = true; bump(cause) end
  if state ~= 'open' then opened = now; move('open', cause) end
else
  failures = 0
  if forced then forced = false; bump(cause) end
  -- A reset is news even to a closed breaker: it starts a new lineage the fleet adopts.
  if state ~= 'closed' or command == 'reset' then move('closed', cause) end
end
return reply(false)
""",
}
