/**
 * The one Lua script behind `RedisStore`: reserve ('check') or reconcile ('adjust')
 * every limit of one key in a single atomic step (Redis runs a script to completion
 * before serving any other command, on a Cluster node as on a standalone server). It is
 * `algorithms.ts` in Lua, operation for operation (doubles in both; state written with
 * %.17g so a level reads back bit for bit), so RedisStore and LocalStore decide alike.
 *
 * KEYS[i]  the state hash of limit i; all KEYS share one hash tag (one Cluster slot).
 * ARGV[1]  'check' | 'adjust'
 * ARGV[2]  now in ms, or -1 to read the Redis server's clock (TIME): every node then
 *          decides by one clock; tests inject it to replay sequences.
 * then 5 ARGV per limit, in KEYS order:
 *   alg     'sw' (sliding window) | 'tb' (token bucket)
 *   limit   the budget (integer)
 *   p       sw: sub-window width in ms (integer); tb: refill per second
 *   n       sw: sub-windows per window; tb: unused (0)
 *   amount  check: the amount to reserve; adjust: delta = actual - reserved
 *   bucket  adjust, sw: the bucket the reservation charged; else unused (0)
 * (6 values per limit with bucket.)
 *
 * Reply to 'check': {allowed, now, then per limit: allowed, remaining, reset_ms,
 * retry_ms (-1: never fits), bucket}; all integers (Lua numbers reach the client
 * truncated to integers, so only integral values are returned). Reply to 'adjust': now.
 *
 * State: sw: a hash {bucket index -> usage}; tb: a hash {l = level, t = ms of level}.
 * Each hash expires 1 s after its usage has drained (PEXPIRE), so idle keys cost nothing.
 */
export const LIMITER_LUA = `
local op = ARGV[1]                                        -- 'check' or 'adjust'
local now = tonumber(ARGV[2])                             -- injected clock (ms), or -1
if now < 0 then                                           -- no injected clock:
  local t = redis.call('TIME')                            --   {seconds, microseconds} of this server
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)  -- as integer ms
end
local PER = 6                                             -- ARGV values per limit
local SLACK = 1000                                        -- ms a drained hash outlives its last use:
                                                          -- TIME is truncated to ms and key expiry is
                                                          -- not; an early expiry would forget usage

-- Made once per call rather than once per sort.
local function oldest_first(x, y) return x[1] < y[1] end

-- Sliding window: one HGETALL, buckets no window at now can count (older than first =
-- cur - n) dropped with one HDEL. Returns the current bucket, the usage of the counted
-- buckets, the HGETALL reply itself (callers that need the buckets again, a refusal's
-- retry or a refund, walk it skipping those older than first: no table per bucket on
-- the common path), first, and the newest non-empty bucket (nil if none), which is all
-- the expiry needs: the caller keeps it up to date through its own writes instead of
-- reading the hash again.
local function sw_load(key, g, n)
  local cur = math.floor(now / g)                         -- current bucket index
  local first = cur - n                                   -- oldest bucket any window at now counts
  local raw = redis.call('HGETALL', key)                  -- {b1, v1, b2, v2, ...}
  local used, newest, gone = 0, nil, nil
  for i = 1, #raw, 2 do
    local b = tonumber(raw[i])
    if b < first then                                     -- out of every window from now on
      if gone then gone[#gone + 1] = raw[i] else gone = {raw[i]} end
    else
      local v = tonumber(raw[i + 1])
      used = used + v                                     -- integers: exact in any order
      if v > 0 and (newest == nil or b > newest) then newest = b end
    end
  end
  if gone then redis.call('HDEL', key, unpack(gone)) end  -- at most n + 1 fields (n <= 100)
  return cur, used, raw, first, newest
end

-- ms from now until bucket newest leaves every window; 0 if there is none.
local function sw_reset(newest, g, n)
  if newest == nil then return 0 end
  return (newest + n + 1) * g - now
end

-- The hash lives until its newest non-empty bucket leaves the window (plus SLACK);
-- deleted when it has none. newest must describe the hash as written.
local function sw_expire(key, newest, g, n)
  local ms = sw_reset(newest, g, n)
  if ms > 0 then redis.call('PEXPIRE', key, ms + SLACK) else redis.call('DEL', key) end
end

-- Token bucket: the usage level drained since it was written (a clock going back drains nothing).
local function tb_level(key, rate)
  local s = redis.call('HMGET', key, 'l', 't')            -- {level, ts} or {false, false}
  if not s[1] then return 0 end
  return math.max(0, tonumber(s[1]) - (math.max(0, now - tonumber(s[2])) * rate) / 1000)
end

-- Writes a level as of now; the hash lives until the level has drained to zero.
local function tb_store(key, level, rate)
  local ms = math.ceil((level * 1000) / rate)
  if ms <= 0 then redis.call('DEL', key) return end       -- drained: nothing to keep
  redis.call('HSET', key, 'l', string.format('%.17g', level), 't', string.format('%d', now))
  redis.call('PEXPIRE', key, ms + SLACK)
end

-- Limit ids are unique within a check, so no two KEYS name the same hash: what one
-- limit's sw_load returned stays true of its hash until that limit writes it.
if op == 'adjust' then
  for i = 1, #KEYS do
    local a = (i - 1) * PER + 2                           -- ARGV offset of limit i
    local alg, p, n = ARGV[a + 1], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local delta, bucket = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
    if alg == 'sw' then
      local cur, _, raw, first, newest = sw_load(KEYS[i], p, n)  -- prunes old buckets
      if delta > 0 then                                   -- charge: usage known now, held from now
        redis.call('HINCRBY', KEYS[i], string.format('%d', cur), delta)
        if newest == nil or cur > newest then newest = cur end
      elseif delta < 0 then                               -- refund: off the reservation's bucket,
        for j = 1, #raw, 2 do                             --   only while it is still counted
          local b = tonumber(raw[j])                      --   (one older than first was pruned)
          if b == bucket and b >= first then
            local left = math.max(0, tonumber(raw[j + 1]) + delta)  -- never below zero
            if left == 0 then redis.call('HDEL', KEYS[i], raw[j]) else redis.call('HSET', KEYS[i], raw[j], left) end
            if left == 0 and bucket == newest then        -- emptied the newest: the next one down
              newest = nil
              for k = 1, #raw, 2 do
                local o = tonumber(raw[k])
                if o >= first and o ~= bucket and tonumber(raw[k + 1]) > 0 and (newest == nil or o > newest) then newest = o end
              end
            end
            break
          end
        end
      end
      sw_expire(KEYS[i], newest, p, n)
    else
      tb_store(KEYS[i], math.max(0, tb_level(KEYS[i], p) + delta), p)  -- never below zero
    end
  end
  return now
end

-- op == 'check': evaluate every limit first, write only if all allow (all or nothing).
local all = true                                          -- every limit allows so far
local out = {}                                            -- per limit: the reply values and what to write
for i = 1, #KEYS do
  local a = (i - 1) * PER + 2                             -- ARGV offset of limit i
  local alg, limit, p, n = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local amount = tonumber(ARGV[a + 5])
  local o                                                 -- ok, rem, reset, retry, bucket, rem_if_charged,
                                                          -- reset_if_charged, then what to write
  if alg == 'sw' then
    local cur, used, raw, first, newest = sw_load(KEYS[i], p, n)
    local ok = used + amount <= limit                     -- the counted n+1 buckets leave room
    local charged = newest                                -- newest non-empty bucket once charged:
    if amount > 0 and (newest == nil or cur > newest) then charged = cur end  -- the current one counts too
    o = {ok, math.max(0, limit - used), sw_reset(newest, p, n), 0, cur,
         math.max(0, limit - (used + amount)), sw_reset(charged, p, n), 'sw', cur, amount, p, n, charged}
    if not ok then
      o[4] = -1                                           -- -1: the amount never fits
      if amount <= limit then
        local list = {}                                   -- the counted buckets, oldest first:
        for j = 1, #raw, 2 do                             --   when enough has left
          local b = tonumber(raw[j])
          if b >= first then list[#list + 1] = {b, tonumber(raw[j + 1])} end
        end
        table.sort(list, oldest_first)
        local freed = 0
        for _, e in ipairs(list) do
          freed = freed + e[2]
          if used - freed + amount <= limit then o[4] = (e[1] + n + 1) * p - now break end
        end
      end
    end
  else
    local level = tb_level(KEYS[i], p)                    -- usage drained to now
    local ok = level + amount <= limit
    o = {ok, math.max(0, math.floor(limit - level)), math.ceil((level * 1000) / p), 0, 0,
         math.max(0, math.floor(limit - (level + amount))), math.ceil(((level + amount) * 1000) / p), 'tb', level + amount, p}
    if not ok then
      if amount > limit then o[4] = -1                    -- never fits
      else o[4] = math.ceil(((level + amount - limit) * 1000) / p) end  -- time to drain the excess
    end
  end
  if not o[1] then all = false end                        -- one refusal refuses the request
  out[i] = o
end
local reply = {all and 1 or 0, now}
for i = 1, #KEYS do                                       -- report charged values only if charged
  local o = out[i]
  reply[#reply + 1] = o[1] and 1 or 0
  if all then reply[#reply + 1] = o[6] else reply[#reply + 1] = o[2] end  -- remaining
  if all then reply[#reply + 1] = o[7] else reply[#reply + 1] = o[3] end  -- reset ms
  reply[#reply + 1] = o[4]                                -- retry ms (0 allowed, -1 never)
  reply[#reply + 1] = o[5]                                -- bucket charged
end
if all then                                               -- all allowed: charge every limit
  for i = 1, #KEYS do
    local o = out[i]
    if o[8] == 'sw' then
      if o[10] > 0 then redis.call('HINCRBY', KEYS[i], string.format('%d', o[9]), o[10]) end
      sw_expire(KEYS[i], o[13], o[11], o[12])             -- newest non-empty bucket once charged
    else
      tb_store(KEYS[i], o[9], o[10])
    end
  end
end
return reply
`;
