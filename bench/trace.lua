-- wrk script for bench/http.py: GET /v1/trace for random releases (or, with $LINEAGE_PATH set to
-- "/v1/impact?kind=dataset&ref=", /v1/impact for random dataset versions), checking every answer.
--
-- $LINEAGE_REFS names a file of "<url-encoded service@vX.Y.Z>\t<expected root label>" lines. Each
-- request picks a reference at random; each answer must be a 200 whose root (the first "label" of
-- the body: orjson keeps the answer's key order, and root comes first) is one of the expected
-- labels. wrk cannot tell which request an answer belongs to when a thread drives several
-- connections, so bench/http.py also samples exact answers from Python while wrk runs.
-- done() prints one JSON line for bench/http.py.

local refs, labels = {}, {}
for line in io.lines(os.getenv("LINEAGE_REFS")) do
  local query, label = line:match("^([^\t]+)\t(.+)$")
  refs[#refs + 1] = query
  labels[label] = true
end

local path = os.getenv("LINEAGE_PATH") or "/v1/trace?kind=api&ref="
local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(tonumber(os.getenv("LINEAGE_SEED") or "7") * 1000 + thread_number)
  answered, wrong_status, wrong_root = 0, 0, 0
end

function request()
  return wrk.format("GET", path .. refs[math.random(#refs)])
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then
    wrong_status = wrong_status + 1
  elseif not labels[body:match('"label":"(.-)"')] then
    wrong_root = wrong_root + 1
  end
end

function done(summary, latency, requests)
  local answered_all, status_all, root_all = 0, 0, 0
  for _, thread in ipairs(threads) do
    answered_all = answered_all + thread:get("answered")
    status_all = status_all + thread:get("wrong_status")
    root_all = root_all + thread:get("wrong_root")
  end
  local e = summary.errors
  io.write(string.format(
    '\n{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"answered": %d, "wrong_status": %d, "wrong_root": %d, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    answered_all, status_all, root_all,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
