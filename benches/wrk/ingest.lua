-- wrk script: signed repository_advisory deliveries, each with a unique X-GitHub-Delivery.
-- BODY is the payload file, SIG its X-Hub-Signature-256 (see run.sh).
local file = assert(io.open(os.getenv("BODY"), "rb"))
local body = file:read("*a")
file:close()
local signature = os.getenv("SIG")
local prefix = tostring(math.random(1, 1e9))
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format("POST", "/webhooks", {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "repository_advisory",
    ["X-GitHub-Delivery"] = prefix .. "-" .. counter,
    ["X-Hub-Signature-256"] = signature,
  }, body)
end
