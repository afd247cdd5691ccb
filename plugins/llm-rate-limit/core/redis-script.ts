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

-- Sliding window: read the hash, drop buckets no window at now can count (older than
-- cur - n), return the current bucket, the usage of the counted ones, and them sorted.
local function sw_load(key, g, n)
  local cur = math.floor(now / g)                         -- current bucket index
  local raw = redis.call('HGETALL', key)                  -- {b1, v1, b2, v2, ...}
  local list, used = {}, 0
  for i = 1, #raw, 2 do
    local b, v = tonumber(raw[i]), tonumber(raw[i + 1])
    if b < cur - n then                                   -- out of every window from now on:
      redis.call('HDEL', key, raw[i])                     --   forget it
    else
      used = used + v                                     -- integers: exact in any order
      list[#list + 1] = {b, v}
    end
  end
  table.sort(list, function(x, y) return x[1] < y[1] end) -- oldest first (for retry)
  return cur, used, list
end

-- ms from now until the newest non-empty bucket (or extra_b) leaves every window; 0 if none.
local function sw_reset(list, g, n, extra_b)
  local max_b = extra_b
  for _, e in ipairs(list) do
    if e[2] > 0 and (max_b == nil or e[1] > max_b) then max_b = e[1] end
  end
  if max_b == nil then return 0 end
  return (max_b + n + 1) * g - now
end

-- The hash lives until its newest bucket leaves the window; deleted when empty.
local function sw_expire(key, g, n)
  local _, _, list = sw_load(key, g, n)
  local ms = sw_reset(list, g, n, nil)
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

if op == 'adjust' then
  for i = 1, #KEYS do
    local a = (i - 1) * PER + 2                           -- ARGV offset of limit i
    local alg, p, n = ARGV[a + 1], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local delta, bucket = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
    if alg == 'sw' then
      local cur = sw_load(KEYS[i], p, n)                  -- prunes old buckets
      if delta > 0 then                                   -- charge: usage known now, held from now
        redis.call('HINCRBY', KEYS[i], string.format('%d', cur), delta)
      elseif delta < 0 then                               -- refund: off the reservation's bucket,
        local f = string.format('%d', bucket)
        local v = tonumber(redis.call('HGET', KEYS[i], f))
        if v then                                         --   only while it is still counted,
          local left = math.max(0, v + delta)             --   never below zero
          if left == 0 then redis.call('HDEL', KEYS[i], f) else redis.call('HSET', KEYS[i], f, left) end
        end
      end
      sw_expire(KEYS[i], p, n)
    else
      tb_store(KEYS[i], math.max(0, tb_level(KEYS[i], p) + delta), p)  -- never below zero
    end
  end
  return now
end

-- op == 'check': evaluate every limit first, write only if all allow (all or nothing).
local all = true                                          -- every limit allows so far
local out = {}                                            -- per limit: the reply values
local write = {}                                          -- per limit: what to write if all allow
for i = 1, #KEYS do
  local a = (i - 1) * PER + 2                             -- ARGV offset of limit i
  local alg, limit, p, n = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local amount = tonumber(ARGV[a + 5])
  local o = {}                                            -- ok, rem, reset, retry, bucket, rem_if_charged, reset_if_charged
  if alg == 'sw' then
    local cur, used, list = sw_load(KEYS[i], p, n)
    local ok = used + amount <= limit                     -- the counted n+1 buckets leave room
    local extra = nil
    if amount > 0 then extra = cur end                    -- once charged, the current bucket counts too
    o = {ok, math.max(0, limit - used), sw_reset(list, p, n, nil), 0, cur,
         math.max(0, limit - (used + amount)), sw_reset(list, p, n, extra)}
    if not ok then
      o[4] = -1                                           -- -1: the amount never fits
      if amount <= limit then
        local freed = 0
        for _, e in ipairs(list) do                       -- oldest first: when enough has left
          freed = freed + e[2]
          if used - freed + amount <= limit then o[4] = (e[1] + n + 1) * p - now break end
        end
      end
    end
    write[i] = {'sw', cur, amount, p, n}
  else
    local level = tb_level(KEYS[i], p)                    -- usage drained to now
    local ok = level + amount <= limit
    o = {ok, math.max(0, math.floor(limit - level)), math.ceil((level * 1000) / p), 0, 0,
         math.max(0, math.floor(limit - (level + amount))), math.ceil(((level + amount) * 1000) / p)}
    if not ok then
      if amount > limit then o[4] = -1                    -- never fits
      else o[4] = math.ceil(((level + amount - limit) * 1000) / p) end  -- time to drain the excess
    end
    write[i] = {'tb', level + amount, p}
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
    local w = write[i]
    if w[1] == 'sw' then
      if w[3] > 0 then redis.call('HINCRBY', KEYS[i], string.format('%d', w[2]), w[3]) end
      sw_expire(KEYS[i], w[4], w[5])
    else
      tb_store(KEYS[i], w[2], w[3])
    end
  end
end
return reply
`;
