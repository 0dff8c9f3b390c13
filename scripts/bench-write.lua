-- bench-write.lua: wrk script for bench-write.sh. POSTs one refund per request,
-- rotating over the capture ids of a file (one a line).
-- wrk ... -s bench-write.lua URL -- IDS_FILE THREADS TOKEN AMOUNT CURRENCY
-- Thread k starts at k/THREADS of the list, so threads do not walk the same captures
-- in step. done() prints one "status <code> <count>" line per HTTP status seen.

local threads = {}
local next_tid = 0

function setup(thread)
    thread:set("tid", next_tid)
    next_tid = next_tid + 1
    table.insert(threads, thread)
end

local bodies = {}
local i = 0
statuses = {}

function init(args)
    local file, nthreads, token, amount, currency = args[1], tonumber(args[2]), args[3], args[4], args[5]
    for line in io.lines(file) do
        if line ~= "" then
            bodies[#bodies + 1] = '{"data":{"type":"refunds","attributes":{"amount_cents":' .. amount
                .. ',"currency_code":"' .. currency .. '"},"relationships":{"reference_capture":'
                .. '{"data":{"type":"captures","id":"' .. line .. '"}}}}}'
        end
    end
    if #bodies == 0 then
        error("no capture ids in " .. file)
    end
    i = math.floor(#bodies * tid / nthreads)
    wrk.method = "POST"
    wrk.headers["Authorization"] = "Bearer " .. token
    wrk.headers["Content-Type"] = "application/vnd.api+json"
end

function request()
    i = i % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[i])
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
