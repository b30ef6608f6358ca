"""The Lua scripts every write runs, the prelude they share, and their SHA table.

Every write is one Lua script, so it is atomic, and each first checks the
edit leases of its keys (leases.py): a write to a leased key waits until the
edit ends.

Lua numbers are doubles, so no script does arithmetic on a value: incr()
uses HINCRBY (exact 64-bit) and otherwise a compare-and-set of the result
Python computed.
"""

from __future__ import annotations

import hashlib
import itertools

from redis.crc import key_slot

EDITS = "aiokv-edits:"  # + name: the hash of the edit leases under way (no store's name)
MS_PER_S = 1000  # the scripts count time in ms: a lease's length, a write's wait


def keys(name: str, cluster: bool = False) -> list[str]:
    """Every script's KEYS for the store named name: its hash, then its leases' hash.

    cluster: the leases' hash in the store's hash slot, so every script runs
    on one node. The store's hash keeps its name either way (a store made
    before keeps its data); so does the leases' hash off a cluster, where
    processes of an older release may share the store.
    """
    if not cluster:
        return [name, EDITS + name]
    # "{tag}" makes Redis hash the tag alone; the name after it keeps each
    # store's leases apart from another's with the same tag.
    return [name, f"{EDITS}{{{_tag(name)}}}{name}"]


def _tag(name: str) -> str:
    # A text without "}" (which would end a hash tag) that Redis hashes to
    # name's slot: the part of name Redis hashes, or else the first number
    # that lands in the same slot.
    encoded = name.encode()
    start = encoded.find(b"{")
    end = encoded.find(b"}", start + 1) if start >= 0 else -1
    hashed = encoded[start + 1 : end] if end > start + 1 else encoded
    if b"}" not in hashed:
        return hashed.decode()
    slot = key_slot(encoded)
    return next(str(n) for n in itertools.count() if key_slot(str(n).encode()) == slot)


# Shared by every script. KEYS[1] is the store's hash, KEYS[2] its leases;
# a lease is "<token> <deadline in ms on the server's clock>".
_PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- ms until the last live lease of another edit on ARGV[first], ARGV[first+step]...
-- up to ARGV[last] ends; 0: none, the write may go ahead.
local function wait_ms(first, last, step, token)
  if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
  local now, wait = now_ms(), 0
  for i = first, last, step do
    local lease = redis.call('HGET', KEYS[2], ARGV[i])
    if lease then
      local holder, deadline = string.match(lease, '^(%S+) (%d+)$')
      if holder ~= token then wait = math.max(wait, tonumber(deadline) - now) end
    end
  end
  return wait
end
"""
# A script returns a positive integer to say "an edit holds a key: try again
# in that many ms"; any other reply is its result (plain replies, cheapest to
# parse, on the hot paths).
_SET = """
local wait = wait_ms(1, 1, 1, '')
if wait > 0 then return wait end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 0
"""
_UPDATE = """
local wait = wait_ms(1, #ARGV, 2, '')
if wait > 0 then return wait end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 0
"""
_DELETE = """
local wait = wait_ms(1, 1, 1, '')
if wait > 0 then return wait end
redis.call('HDEL', KEYS[1], ARGV[1])
return 0
"""
# The new value's text if HINCRBY added ARGV[2]; else {value's text or nil}
# (not an integer, or the sum outside 64 bits): the caller computes it.
_INCR = """
local wait = wait_ms(1, 1, 1, '')
if wait > 0 then return wait end
local added = redis.pcall('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
local value = redis.call('HGET', KEYS[1], ARGV[1])
if type(added) == 'table' and added.err then return {value} end
return value
"""
# Store ARGV[2] at ARGV[1] if the value there is still ARGV[3] (absent if no
# ARGV[3]); {1} if stored, {0} if not.
_SWAP = """
local wait = wait_ms(1, 1, 1, '')
if wait > 0 then return wait end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= (ARGV[3] or false) then return {0} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1}
"""
# Lease ARGV[1] to token ARGV[2] for ARGV[3] ms; {value or nil}.
_BEGIN_EDIT = """
local wait = wait_ms(1, 1, 1, ARGV[2])
if wait > 0 then return wait end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. (now_ms() + tonumber(ARGV[3])))
return {redis.call('HGET', KEYS[1], ARGV[1])}
"""
# Extend token ARGV[2]'s live lease of ARGV[1] by ARGV[3] ms; {1} or {0}.
_RENEW_EDIT = """
local lease = redis.call('HGET', KEYS[2], ARGV[1])
if not lease then return {0} end
local holder, deadline = string.match(lease, '^(%S+) (%d+)$')
local now = now_ms()
if holder ~= ARGV[2] or tonumber(deadline) <= now then return {0} end
redis.call('HSET', KEYS[2], ARGV[1], holder .. ' ' .. (now + tonumber(ARGV[3])))
return {1}
"""
# End token ARGV[2]'s lease of ARGV[1], storing ARGV[3] if given and the
# lease was still live; {1} if stored (or nothing to store), {0} if not.
_END_EDIT = """
local lease = redis.call('HGET', KEYS[2], ARGV[1])
if not lease then return {0} end
local holder, deadline = string.match(lease, '^(%S+) (%d+)$')
if holder ~= ARGV[2] then return {0} end
redis.call('HDEL', KEYS[2], ARGV[1])
if tonumber(deadline) <= now_ms() then return {0} end
if ARGV[3] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return {1}
"""
# Remove every field starting with ARGV[1] ('' : the whole hash), once no
# live lease holds one of them.
_CLEAR = """
local prefix, n = ARGV[1], #ARGV[1]
if redis.call('EXISTS', KEYS[2]) == 1 then
  local now, wait = now_ms(), 0
  local leases = redis.call('HGETALL', KEYS[2])
  for i = 1, #leases, 2 do
    if string.sub(leases[i], 1, n) == prefix then
      wait = math.max(wait, tonumber(string.match(leases[i + 1], ' (%d+)$')) - now)
    end
  end
  if wait > 0 then return wait end
end
if n == 0 then
  redis.call('UNLINK', KEYS[1])
else
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(field, 1, n) == prefix then redis.call('HDEL', KEYS[1], field) end
  end
end
return 0
"""


SCRIPTS = {
    name: _PRELUDE + body
    for name, body in {
        "set": _SET,
        "update": _UPDATE,
        "delete": _DELETE,
        "incr": _INCR,
        "swap": _SWAP,
        "begin_edit": _BEGIN_EDIT,
        "renew_edit": _RENEW_EDIT,
        "end_edit": _END_EDIT,
        "clear": _CLEAR,
    }.items()
}
# EVALSHA names a script by its SHA1; the server learns it by SCRIPT LOAD.
SHAS = {name: hashlib.sha1(body.encode()).hexdigest() for name, body in SCRIPTS.items()}
