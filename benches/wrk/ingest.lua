-- wrk script: signed repository_advisory deliveries, each with a unique X-GitHub-Delivery
-- and a body of its own (a sequence number as its first member), signed here through
-- LuaJIT's FFI with OpenSSL's HMAC: herald stores a repeated body once, as a replay.
-- BODY is the payload file, SECRET the webhook secret (see run.sh).
local ffi = require("ffi")
ffi.cdef [[
const void *EVP_sha256(void);
unsigned char *HMAC(const void *evp_md, const void *key, int key_len,
                    const unsigned char *data, size_t data_len,
                    unsigned char *md, unsigned int *md_len);
]]
local crypto = ffi.load(os.getenv("LIBCRYPTO") or "libcrypto.so.3")
local file = assert(io.open(os.getenv("BODY"), "rb"))
local rest = file:read("*a"):sub(2)
file:close()
local secret = os.getenv("SECRET")
local digest = ffi.new("unsigned char[32]")
local digest_len = ffi.new("unsigned int[1]")
local prefix = tostring(math.random(1, 1e9))
local counter = 0

local function sign(body)
  crypto.HMAC(crypto.EVP_sha256(), secret, #secret, body, #body, digest, digest_len)
  local hex = {}
  for i = 0, 31 do
    hex[i + 1] = string.format("%02x", digest[i])
  end
  return "sha256=" .. table.concat(hex)
end

request = function()
  counter = counter + 1
  local body = '{"bench_sequence":' .. prefix .. counter .. "," .. rest
  return wrk.format("POST", "/webhooks", {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "repository_advisory",
    ["X-GitHub-Delivery"] = prefix .. "-" .. counter,
    ["X-Hub-Signature-256"] = sign(body),
  }, body)
end
