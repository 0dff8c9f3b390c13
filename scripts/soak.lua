-- soak.lua: wrk script for soak.sh's readers. GETs the paths given as arguments in turn.
-- wrk ... -s soak.lua BASE -- TOKEN PATH...
-- done() prints one "status <code> <count>" line per HTTP status seen.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

local paths = {}
local i = 0
statuses = {}

function init(args)
    wrk.headers["Authorization"] = "Bearer " .. args[1]
    for k = 2, #args do
        paths[#paths + 1] = args[k]
    end
    if #paths == 0 then
        error("no paths")
    end
end

function request()
    i = i % #paths + 1
    return wrk.format("GET", paths[i])
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, thread in ipairs(threads) do
        for status, n in pairs(thread:get("statuses")) do
            total[status] = (total[status] or 0) + n
        end
    end
    for status, n in pairs(total) do
        io.write(string.format("status %d %d\n", status, n))
    end
end
