-- One call of Limiter.Allow for one key, atomically: package ratelimit's
-- algorithm (a ring of 64 sub-windows of period/63, counted in full) on a
-- hash kept in Redis. Times are in microseconds, which fit a Lua number
-- (a double) exactly; nanoseconds since the epoch would not.
--
-- KEYS[1]  the key's hash: p (the period, as the caller wrote it), w (a
--          sub-window's width), s (the newest sub-window), t (the units
--          counted) and "0" to "63", the counts of the sub-windows that
--          hold any (slot s is field s mod 64).
-- ARGV[1]  limit (at most 2^32-1)        ARGV[2] cost (at least 1)
-- ARGV[3]  the period, compared as text  ARGV[4] a sub-window's width, µs
-- ARGV[5]  the period in µs, rounded up  ARGV[6] now in µs, or "" for
--          Redis's own clock (TIME), which every node then shares.
--
-- Returns {allowed (0 or 1), remaining, reset (µs; -1: no wait helps), now (µs)}.
local key = KEYS[1]
local lim = tonumber(ARGV[1])
local units = tonumber(ARGV[2])
local period = ARGV[3]
local w = tonumber(ARGV[4])
local periodUs = tonumber(ARGV[5])
local now
if ARGV[6] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[6])
end

-- d formats an integer for Redis: a number passed as is would be
-- written with 14 significant digits.
local function d(x)
  return string.format('%d', x)
end

-- floor(a/b) for integers below 2^53: a double division may round a
-- quotient just below an integer up to it, so the result is checked.
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

-- The header always; the counts only when needed (a new sub-window, a
-- refusal, a new period), so that the common call (admitted in the
-- current sub-window) reads four fields and writes three.
local hdr = redis.call('HMGET', key, 'p', 'w', 's', 't')
local c -- every count, indexed 0 to 63, once loaded
local function counts()
  if not c then
    c = {}
    for i = 0, 63 do
      c[i] = 0
    end
    local h = redis.call('HGETALL', key)
    for i = 1, #h, 2 do
      local n = tonumber(h[i]) -- nil for the header's fields
      if n then
        c[n] = tonumber(h[i + 1])
      end
    end
  end
  return c
end

local slot, total
local rebuilt = false -- the whole hash is to be written anew
if hdr[1] ~= period then
  -- A new key, or a new period: build the ring, carrying the units of
  -- sub-windows that end within the new period before now (all of them
  -- may hold units admitted within it), which can only be stricter.
  local carried = 0
  if hdr[1] then
    local old, ow, os0 = counts(), tonumber(hdr[2]), tonumber(hdr[3])
    local cutoff = now - periodUs
    for j = 0, 63 do
      local s = os0 - j
      local n = old[s % 64]
      if n ~= 0 and (s + 1) * ow > cutoff then
        carried = carried + n
      end
    end
  end
  c = {}
  for i = 0, 63 do
    c[i] = 0
  end
  slot = fdiv(now, w)
  total = math.min(carried, 4294967295)
  c[slot % 64] = total
  rebuilt = true
else
  slot, total = tonumber(hdr[3]), tonumber(hdr[4])
end

-- Advance the ring to now's sub-window, dropping those that leave it. A
-- now at or before the newest sub-window (a clock stepped back) counts in
-- the newest.
local cur = fdiv(now, w)
local advanced = false
local dropped = {} -- count fields to delete
if cur > slot then
  counts()
  local first, last = slot + 1, cur
  if cur - slot >= 64 then
    first, last = 0, 63
  end
  for x = first, last do
    local i = x % 64
    if c[i] ~= 0 then
      total = total - c[i]
      c[i] = 0
      dropped[#dropped + 1] = tostring(i)
    end
  end
  slot = cur
  advanced = true
end

local allowed, reset = 0, -1
if total + units <= lim then
  if c then
    c[slot % 64] = c[slot % 64] + units
  end
  total = total + units
  allowed = 1
  reset = (slot + 64) * w
elseif units <= lim then
  -- When enough of the units counted stop counting, oldest first.
  counts()
  local need, freed = total + units - lim, 0
  reset = (slot + 64) * w
  for j = 0, 63 do
    local s = slot - 63 + j
    freed = freed + c[s % 64]
    if freed >= need then
      reset = (s + 64) * w
      break
    end
  end
end
local remaining = 0
if total < lim then
  remaining = lim - total
end

-- Write what changed. The hash expires once its newest units have stopped
-- counting (64 sub-windows), plus a second so that rounding to
-- milliseconds never drops units still counted: memory stays bounded
-- without a sweep.
local ttl = d(math.ceil(64 * w / 1000) + 1000)
if rebuilt then
  if allowed == 1 or total > 0 then
    redis.call('DEL', key)
    local args = {'p', period, 'w', d(w), 's', d(slot), 't', d(total)}
    for i = 0, 63 do
      if c[i] ~= 0 then
        args[#args + 1] = tostring(i)
        args[#args + 1] = d(c[i])
      end
    end
    redis.call('HSET', key, unpack(args))
    redis.call('PEXPIRE', key, ttl)
  elseif hdr[1] then
    redis.call('DEL', key) -- nothing counts any more
  end
elseif allowed == 1 or advanced then
  if #dropped > 0 then
    redis.call('HDEL', key, unpack(dropped))
  end
  if allowed == 1 then
    redis.call('HINCRBY', key, tostring(slot % 64), d(units))
  end
  redis.call('HSET', key, 's', d(slot), 't', d(total))
  redis.call('PEXPIRE', key, ttl)
end
return {allowed, remaining, reset, now}
