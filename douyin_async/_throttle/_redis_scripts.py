"""The Lua scripts of the shared throttle: each acquire, release and lease renewal is one atomic call.

Every time comes from Redis's ``TIME``, never from a caller's clock, so processes on hosts whose
clocks disagree still share one schedule. Lua numbers reach Redis as text with 14 significant
digits, which would round a Unix time to a tenth of a millisecond, so every time written back is
formatted with ``%.17g``; and Lua numbers returned to Redis become integers, so fractional
results come back as strings.

The adaptive policy is ``AdaptivePolicy`` translated line for line
(``grow_window``, ``cut_window``, ``cause``, ``undo_doubtful_cut``, ``cut_rate``, ``relax_rate``); its
constants are not repeated here but passed in ``ARGV[1]`` from that module, the one source of truth.

Keys (all under one hash tag, so a cluster keeps them on one slot):

- ``rate``: the GCRA's theoretical arrival time, the earliest moment the next request may go.
- ``leases``: a sorted set of the requests in flight, scored by when their lease expires.
- ``policy``: a hash, the adaptive policy's state, shared by every process on the key.
- ``sends``, ``answers``: sorted sets of the last seconds' sends and answers (the policy's deques).
- ``flights``, ``landed``: the leases held, scored by when they are sent, and those given back
  (``lease|send time``) scored by when, for as long as a lease held was sent before that: the
  count in flight each request met at the gateway, which the policy learns from.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _adaptive as adaptive

STATE_TTL_MS = 3_600_000
"""A key's policy and recent events are forgotten after an hour without traffic."""
SETTLE_SECONDS = 2 * adaptive.WINDOW
"""After Redis lost its state (a restart), no request goes for this long: long enough for every
process to re-register the leases it still holds, and for the gateway's window to empty of the
sends made before the restart (including those already scheduled a little ahead)."""


@dataclass(frozen=True)
class Keys:
    """The Redis keys and the release channel of one gateway key, under ``prefix``."""

    rate: str
    leases: str
    policy: str
    sends: str
    answers: str
    channel: str
    flights: str
    landed: str

    @classmethod
    def named(cls, prefix: str, digest: str) -> Keys:
        base = f"{prefix}:{{{digest}}}"
        names = ("rate", "leases", "policy", "sends", "answers", "released", "flights", "landed")
        return cls(*(f"{base}:{name}" for name in names))

    def all(self) -> list[str]:
        """The seven keys, in the order the scripts read them as ``KEYS[1..7]``."""
        return [self.rate, self.leases, self.policy, self.sends, self.answers, self.flights, self.landed]


def policy_args(rate_ceiling: float | None, concurrency_ceiling: int | None, margin: float, adaptive_on: bool) -> str:
    """``ARGV[1]`` of the acquire and release scripts: the ceilings and the policy's constants.

    One argument joined by ``|`` rather than fifteen: encoding arguments is most of a call's
    cost in the client, and these are the same on every call.
    """
    return "|".join(str(value) for value in [
        "" if rate_ceiling is None else repr(float(rate_ceiling)),
        "" if concurrency_ceiling is None else concurrency_ceiling,
        repr(float(margin)),
        1 if adaptive_on else 0,
        *(repr(number) for number in adaptive.SCRIPT_NUMBERS),
        STATE_TTL_MS,
    ])


_PRELUDE = r"""
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function num(x) return string.format('%.17g', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local NONE = -1e300

local C = {}
for field in string.gmatch(ARGV[1] .. '|', '([^|]*)|') do C[#C + 1] = field end
local function opt(v) if v == '' then return nil end return tonumber(v) end
local rc, cc = opt(C[1]), opt(C[2])
local margin, adaptive = tonumber(C[3]), C[4] == '1'
local INITIAL_WINDOW, PROBE_AFTER, RAISE_AFTER = tonumber(C[5]), tonumber(C[6]), tonumber(C[7])
local RATE_HOLD, RATE_PROBE_STEP = tonumber(C[8]), tonumber(C[9])
local RATE_PROBE_EVERY, TARGET_BELOW_BOUND = tonumber(C[10]), tonumber(C[11])
local WINDOW, RECENT = tonumber(C[12]), tonumber(C[13])
local RATE_BINDING, STATE_TTL = tonumber(C[14]), tonumber(C[15])

local P = {}
local FIELDS = {'rate', 'concurrency', 'window', 'slow_start', 'cap_bound', 'probe_after', 'clean', 'above',
                'rate_bound', 'cooldown', 'paused_until', 'first_send',
                'rate_limited', 'settle_until', 'probe_at', 'rate_step', 'doubt_at', 'doubt_in_flight',
                'doubt_cap_bound', 'doubt_window', 'doubt_slow_start', 'doubt_probe_after', 'doubt_clean'}

-- The policy as AdaptivePolicy.__init__ makes it, then what the hash holds, within our ceilings.
local function load_policy()
  local raw = redis.call('HGETALL', KEYS[3])
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = tonumber(raw[i + 1]) end
  local initial = cc
  if adaptive and cc ~= nil then initial = math.min(INITIAL_WINDOW, cc) end
  local function get(name, default)
    if h[name] == nil then return default end
    return h[name]
  end
  P.existed = #raw > 0
  P.rate = rc and math.min(get('rate', rc), rc)
  P.concurrency = cc and math.min(get('concurrency', initial), cc)
  P.window = math.min(get('window', initial or 0), cc or 0)
  P.slow_start = get('slow_start', 1)
  P.cap_bound = cc and math.min(get('cap_bound', cc), cc)
  P.probe_after = get('probe_after', PROBE_AFTER)
  P.clean = get('clean', 0)
  P.above = get('above', 0)
  P.rate_bound = rc and math.min(get('rate_bound', rc), rc)
  P.cooldown = get('cooldown', NONE)
  P.paused_until = get('paused_until', NONE)
  P.first_send = h['first_send']
  P.rate_limited = get('rate_limited', 0)
  P.settle_until = get('settle_until', NONE)
  P.probe_at = get('probe_at', NONE)
  P.rate_step = get('rate_step', RATE_PROBE_STEP)
  P.doubt_at = get('doubt_at', NONE)
  for _, name in ipairs({'doubt_in_flight', 'doubt_cap_bound', 'doubt_window', 'doubt_slow_start',
                         'doubt_probe_after', 'doubt_clean'}) do P[name] = get(name, 0) end
  if not adaptive then
    P.rate, P.concurrency, P.paused_until = rc, cc, NONE
  end
end

local function save_policy()
  local args = {}
  for _, name in ipairs(FIELDS) do
    if P[name] ~= nil then
      args[#args + 1] = name
      args[#args + 1] = num(P[name])
    end
  end
  redis.call('HSET', KEYS[3], unpack(args))
  redis.call('PEXPIRE', KEYS[3], STATE_TTL)
end

local function pace(rate) return rate * (1 - margin) end

-- Events per second over the last window (or since the first send, if sooner).
local function per_second(key)
  if P.first_send == nil then return 0 end
  local span = math.min(WINDOW, now - P.first_send)
  if span <= 0 then return 0 end
  return redis.call('ZCOUNT', key, '(' .. num(now - WINDOW), num(now)) / span
end

-- requests in flight --------------------------------------------------------------------------

-- Leases past their expiry (a process that died or froze) leave the cap, and their flights too.
local function drop_expired()
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', num(now))
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', num(now))
    redis.call('ZREM', KEYS[6], unpack(expired))
  end
end

-- How many were in flight when this lease's request reached the gateway, itself included: the
-- leases sent no later and not yet given back then. Counted at the send time, not at the grant:
-- the GCRA may schedule a request later, and the leases given back meanwhile were never in flight
-- with it (LocalThrottle counts a request once it has its rate token, the same way). `fallback`
-- (the count at the grant) for a lease without a flight: granted before Redis lost its state.
local function in_flight_at_send(lease, fallback)
  local sent = redis.call('ZSCORE', KEYS[6], lease)
  if not sent then return fallback end
  sent = tonumber(sent)
  redis.call('ZREM', KEYS[6], lease)
  local k = 1 + redis.call('ZCOUNT', KEYS[6], '-inf', num(sent))
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[7], '(' .. num(sent), '+inf')) do
    local at = tonumber(string.match(member, '|([^|]+)$'))
    if at ~= nil and at <= sent then k = k + 1 end
  end
  redis.call('ZADD', KEYS[7], num(now), lease .. '|' .. num(sent))
  -- A flight given back before every held one was sent counts for none of them.
  local oldest = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
  local keep = now
  if #oldest > 0 then keep = math.min(now, tonumber(oldest[2])) end
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', num(keep))
  redis.call('PEXPIRE', KEYS[6], STATE_TTL)
  redis.call('PEXPIRE', KEYS[7], STATE_TTL)
  return k
end

-- concurrency ------------------------------------------------------------------------------

local function grow_window(k)
  if k > P.cap_bound then
    P.above = P.above + 1
    if P.above >= RAISE_AFTER then
      P.cap_bound = math.min(k, cc)
      P.above = 0
    end
  end
  if P.slow_start == 1 then
    P.window = math.min(P.window + 1, P.cap_bound)
  elseif P.window < P.cap_bound then
    P.window = math.min(P.window + 1 / P.window, P.cap_bound)
  else
    P.clean = P.clean + 1
    if P.clean >= P.probe_after and P.cap_bound < cc then
      P.cap_bound = P.cap_bound + 1
      P.window = P.cap_bound
      P.clean = 0
      P.above = 0
      P.probe_after = math.max(math.floor(P.probe_after / 2), 1)
    end
  end
  P.concurrency = math.max(1, math.floor(P.window))
end

local function cut_window(k)
  local room = math.max(1, k - 1)
  P.slow_start = 0
  P.cap_bound = math.min(P.cap_bound or room, room)
  P.window = math.min(P.window, room)
  P.clean = 0
  P.above = 0
  P.probe_after = PROBE_AFTER
  P.concurrency = math.max(1, math.floor(P.window))
end

local function recent_ok()
  local best = 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. num(now - RECENT), '+inf')) do
    local k = tonumber(string.match(member, ':(%d+)$'))
    if k ~= nil and k > best then best = k end
  end
  return best
end

local DOUBT_FIELDS = {'cap_bound', 'window', 'slow_start', 'probe_after', 'clean'}

-- 'cap': more in flight than recently succeeded; 'rate': no more, sending at our pace (after the
-- first window), or fewer
-- than a refusal of this window taken for the cap; 'doubt': otherwise.
local function cause(k)
  if P.rate == nil then return 'cap' end
  local ok = recent_ok()
  if k > ok then return 'cap' end
  if P.doubt_at > now - WINDOW and k < P.doubt_in_flight then return 'rate' end
  if P.first_send == nil or now - P.first_send < WINDOW then return 'doubt' end
  local sent = per_second(KEYS[4])
  if sent >= RATE_BINDING * pace(P.rate) or P.paused_until > now - WINDOW then return 'rate' end
  return 'doubt'
end

local function undo_doubtful_cut()
  local recent = P.doubt_at > now - WINDOW
  P.doubt_at = NONE
  if not recent or P.concurrency == nil then return end
  for _, name in ipairs(DOUBT_FIELDS) do P[name] = P['doubt_' .. name] end
  P.above = 0
  P.concurrency = math.max(1, math.floor(P.window))
end

-- rate -------------------------------------------------------------------------------------

local function cut_rate()
  P.probe_at = now + RATE_HOLD
  P.rate_step = RATE_PROBE_STEP
  if now < P.cooldown then return end
  P.cooldown = now + WINDOW
  local got_through = redis.call('ZCOUNT', KEYS[5], '(' .. num(now - WINDOW), num(now))
  P.rate_bound = math.min(P.rate, math.max(got_through, 1))
  P.rate = P.rate_bound * TARGET_BELOW_BOUND
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. num(now - WINDOW), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #oldest > 0 then P.paused_until = tonumber(oldest[2]) + WINDOW end
end

local function relax_rate()
  if P.rate_bound < rc and now >= P.probe_at then
    P.rate_bound = math.min(rc, P.rate_bound * (1 + P.rate_step))
    P.rate_step = math.min(2 * P.rate_step, 1)
    P.probe_at = now + RATE_PROBE_EVERY
  end
  local bound = P.rate_bound
  local target = rc
  if bound < rc then target = bound * TARGET_BELOW_BOUND end
  P.rate = math.max(P.rate, target)
end

-- events -----------------------------------------------------------------------------------

local function on_answer(k, id)
  redis.call('ZADD', KEYS[5], num(now), id .. ':' .. k)
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', num(now - math.max(WINDOW, RECENT)))
  redis.call('PEXPIRE', KEYS[5], STATE_TTL)
  if P.rate ~= nil then relax_rate() end
  if P.concurrency ~= nil then grow_window(k) end
end

local function on_refusal(k)
  P.rate_limited = P.rate_limited + 1
  local why = 'rate'
  if P.concurrency ~= nil then why = cause(k) end
  if why ~= 'rate' then
    if why == 'doubt' and P.doubt_at <= now - WINDOW then
      P.doubt_at, P.doubt_in_flight = now, k
      for _, name in ipairs(DOUBT_FIELDS) do P['doubt_' .. name] = P[name] end
    end
    cut_window(k)
  elseif P.rate ~= nil then
    undo_doubtful_cut()
    cut_rate()
  end
end

local function limits() return {num(P.rate or 0), P.concurrency or 0} end
"""

ACQUIRE = _PRELUDE + r"""
-- ARGV[2] lease id, ARGV[3] lease seconds, ARGV[4] '1' if this caller lost Redis since its last call.
-- Returns {status, seconds, in_flight, rate, concurrency}: status 1 granted (send in `seconds`),
-- 0 cap full (the earliest lease expires in `seconds`), 2 settling after a restart (retry in `seconds`).
local lease, lease_seconds, reseed = ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'
load_policy()
local l = limits()
if reseed and not P.existed then
  -- Redis lost the key's state while requests were in flight: wait until it is whole again.
  P.settle_until = now + tonumber(ARGV[5])
  save_policy()
end
if P.settle_until > now then return {2, num(P.settle_until - now), 0, l[1], l[2]} end
local in_flight = 0
if cc ~= nil then
  drop_expired()
  local n = redis.call('ZCARD', KEYS[2])
  if n >= P.concurrency then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local wait = lease_seconds
    if #first > 0 then wait = tonumber(first[2]) - now end
    return {0, num(wait), n, l[1], l[2]}
  end
  redis.call('ZADD', KEYS[2], num(now + lease_seconds), lease)
  redis.call('PEXPIRE', KEYS[2], math.ceil(lease_seconds * 1000) + 1000)
  in_flight = n + 1
end
local send_at = now
if P.rate ~= nil then
  -- GCRA with room for one: the next request may go one interval after this one, never sooner.
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  send_at = math.max(now, tat, P.paused_until)
  local next_at = send_at + 1 / pace(P.rate)
  redis.call('SET', KEYS[1], num(next_at), 'PX', math.ceil((next_at - now + WINDOW) * 1000))
  if adaptive then
    redis.call('ZADD', KEYS[4], num(send_at), lease)
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', num(now - WINDOW))
    redis.call('PEXPIRE', KEYS[4], STATE_TTL)
    if P.first_send == nil then
      P.first_send = send_at
      save_policy()
    end
  end
end
if adaptive and cc ~= nil then
  redis.call('ZADD', KEYS[6], num(send_at), lease)
  redis.call('PEXPIRE', KEYS[6], STATE_TTL)
end
if not P.existed then save_policy() end
return {1, num(send_at - now), in_flight, l[1], l[2]}
"""

RELEASE = _PRELUDE + r"""
-- ARGV[2] lease id, ARGV[3] outcome ('answered', 'limited' or 'none'), ARGV[4] in flight with it
-- when granted, ARGV[5] the release channel. Returns {rate, concurrency, in flight with it when
-- sent} after learning from the outcome.
local lease, outcome = ARGV[2], ARGV[3]
load_policy()
redis.call('ZREM', KEYS[2], lease)
local k = in_flight_at_send(lease, tonumber(ARGV[4]))
if outcome == 'limited' then
  if adaptive then on_refusal(k) else P.rate_limited = P.rate_limited + 1 end
elseif outcome == 'answered' and adaptive and (P.rate ~= nil or P.concurrency ~= nil) then
  on_answer(k, lease)
end
if outcome ~= 'none' then save_policy() end
if cc ~= nil then
  drop_expired()
  local free = P.concurrency - redis.call('ZCARD', KEYS[2])
  if free > 0 then redis.call('PUBLISH', ARGV[5], free) end
end
local l = limits()
return {l[1], l[2], k}
"""

RENEW = r"""
-- KEYS[1] the leases; ARGV[1] lease seconds, ARGV[2..] the leases this process holds. ZADD without
-- XX: after a restart of Redis this puts back the requests still in flight.
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local expiry = string.format('%.17g', tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1]))
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
return #ARGV - 1
"""
