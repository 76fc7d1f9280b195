-- Canned upstream answers for the benchmark mock (nginx + lua-nginx-module).
-- Everything is built once when the worker first loads the module, so a request costs a body
-- read, one pattern find and one write: the mock must stay far cheaper than any arm it serves.
local M = {}

-- About 1.4 KB, the size of a short real answer (and Bifrost's "medium" response).
local MESSAGE = [==[{"id":"msg_01BenchMockXyZ9aBcDeFgHiJkL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Here is a short overview of the gateway benchmark. The mock upstream returns this canned message so that every arm parses and relays the same bytes. A real model would answer the question about connection pooling with a discussion of keep-alive, pool limits, and the cost of opening a new TCP connection for every request. It would mention that HTTP/1.1 clients reuse idle sockets, that an exhausted pool makes requests wait, and that a proxy which holds many slow upstream calls in flight needs a pool at least as large as its concurrency. It might add that streaming responses keep a connection busy for the whole stream, so long generations reduce the number of free sockets, and that timeouts must be set per phase: connect, first byte and idle gap between chunks. It would also warn that a client library whose pool does work proportional to its size on every request gets slower exactly when the gateway is busiest, and that the fix is a different transport rather than a bigger machine. Finally it would suggest measuring with an open-loop load generator."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":212,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":187,"service_tier":"standard"}}]==]

local CHAT_COMPLETION = [==[{"id":"chatcmpl-BenchMock0123456789abcdef","object":"chat.completion","created":1763780000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Here is a short overview of the gateway benchmark. The mock upstream returns this canned message so that every arm parses and relays the same bytes. A real model would answer the question about connection pooling with a discussion of keep-alive, pool limits, and the cost of opening a new TCP connection for every request. It would mention that HTTP/1.1 clients reuse idle sockets, that an exhausted pool makes requests wait, and that a proxy which holds many slow upstream calls in flight needs a pool at least as large as its concurrency. It might add that streaming responses keep a connection busy for the whole stream, so long generations reduce the number of free sockets, and that timeouts must be set per phase: connect, first byte and idle gap between chunks. It would also warn that a client library whose pool does work proportional to its size on every request gets slower exactly when the gateway is busiest, and that the fix is a different transport rather than a bigger machine. Finally it would suggest measuring with an open-loop load generator.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":212,"completion_tokens":187,"total_tokens":399,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_bench0001"}]==]

-- Eight text pieces; both SSE dialects carry the same text.
local PIECES = {
  "Here is a short overview ",
  "of the gateway benchmark. ",
  "The mock upstream sends ",
  "this canned stream so that ",
  "every arm relays the same ",
  "eight text deltas, ",
  "one event at a time, ",
  "to the client.",
}

local function event(name, data)
  return "event: " .. name .. "\ndata: " .. data .. "\n\n"
end

local function anthropic_stream()
  local out = {
    event("message_start", '{"type":"message_start","message":{"id":"msg_01BenchMockStream0001",'
      .. '"type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],'
      .. '"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":212,'
      .. '"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}'),
    event("content_block_start",
      '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
  }
  for _, piece in ipairs(PIECES) do
    out[#out + 1] = event("content_block_delta",
      '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"' .. piece .. '"}}')
  end
  out[#out + 1] = event("content_block_stop", '{"type":"content_block_stop","index":0}')
  out[#out + 1] = event("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn",'
    .. '"stop_sequence":null},"usage":{"output_tokens":40}}')
  out[#out + 1] = event("message_stop", '{"type":"message_stop"}')
  return table.concat(out)
end

local function openai_stream()
  local head = '{"id":"chatcmpl-BenchMockStream0001","object":"chat.completion.chunk",'
    .. '"created":1763780000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench0001",'
  local out = {}
  for i, piece in ipairs(PIECES) do
    local delta = '"content":"' .. piece .. '"'
    if i == 1 then
      delta = '"role":"assistant",' .. delta
    end
    local finish = "null"
    if i == #PIECES then
      finish = '"stop"'
    end
    out[#out + 1] = "data: " .. head .. '"choices":[{"index":0,"delta":{' .. delta
      .. '},"logprobs":null,"finish_reason":' .. finish .. '}]}\n\n'
  end
  -- The usage chunk that stream_options.include_usage asks for: no choices, only usage.
  out[#out + 1] = "data: " .. head
    .. '"choices":[],"usage":{"prompt_tokens":212,"completion_tokens":40,"total_tokens":252}}\n\n'
  out[#out + 1] = "data: [DONE]\n\n"
  return table.concat(out)
end

-- OpenAI's Responses API (POST /v1/responses): the Message's text as one output_text part, with the
-- Response fields the real API always sends (it also echoes instructions and tools; a canned answer
-- cannot, so they are null and empty here).
local ANSWER_TEXT = string.match(MESSAGE, '"text":"(.-)"}%]')
local RESPONSE_ID = "resp_BenchMock0123456789abcdef"
local RESPONSE_ITEM_ID = "msg_BenchMock0123456789abcdef"

local function response_object(status, output, usage)
  return '{"id":"' .. RESPONSE_ID .. '","object":"response","created_at":1763780000,"status":"' .. status
    .. '","background":false,"error":null,"incomplete_details":null,"instructions":null,'
    .. '"max_output_tokens":1024,"max_tool_calls":null,"model":"gpt-4.1-2025-04-14","output":' .. output
    .. ',"parallel_tool_calls":false,"previous_response_id":null,"prompt_cache_key":null,'
    .. '"reasoning":{"effort":null,"summary":null},"safety_identifier":null,"service_tier":"default",'
    .. '"store":false,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},'
    .. '"tool_choice":"auto","tools":[],"top_logprobs":0,"top_p":1.0,"truncation":"disabled","usage":' .. usage
    .. ',"user":null,"metadata":{}}'
end

local function output_text_part(text)
  return '{"type":"output_text","annotations":[],"logprobs":[],"text":"' .. text .. '"}'
end

local function output_message(status, content)
  return '{"id":"' .. RESPONSE_ITEM_ID .. '","type":"message","status":"' .. status .. '","content":[' .. content
    .. '],"role":"assistant"}'
end

local function response_usage(input, output)
  return '{"input_tokens":' .. input .. ',"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":' .. output
    .. ',"output_tokens_details":{"reasoning_tokens":0},"total_tokens":' .. (input + output) .. '}'
end

local RESPONSE = response_object("completed",
  "[" .. output_message("completed", output_text_part(ANSWER_TEXT)) .. "]", response_usage(412, 187))

-- The event sequence of a streamed text answer, as the real API sends it: created, in_progress, the
-- message item and its text part opened, 8 text deltas, everything closed again, completed (with the
-- usage); every event numbered by sequence_number.
local function responses_stream()
  local out = {}
  local function add(name, fields)
    out[#out + 1] = event(name, '{"type":"' .. name .. '","sequence_number":' .. #out .. ',' .. fields .. '}')
  end
  local where = '"item_id":"' .. RESPONSE_ITEM_ID .. '","output_index":0,"content_index":0'
  add("response.created", '"response":' .. response_object("in_progress", "[]", "null"))
  add("response.in_progress", '"response":' .. response_object("in_progress", "[]", "null"))
  add("response.output_item.added", '"output_index":0,"item":' .. output_message("in_progress", ""))
  add("response.content_part.added", where .. ',"part":' .. output_text_part(""))
  for _, piece in ipairs(PIECES) do
    add("response.output_text.delta", where .. ',"delta":"' .. piece .. '","logprobs":[]')
  end
  local text = table.concat(PIECES)
  add("response.output_text.done", where .. ',"text":"' .. text .. '","logprobs":[]')
  add("response.content_part.done", where .. ',"part":' .. output_text_part(text))
  add("response.output_item.done", '"output_index":0,"item":' .. output_message("completed", output_text_part(text)))
  add("response.completed", '"response":' .. response_object("completed",
    "[" .. output_message("completed", output_text_part(text)) .. "]", response_usage(412, 40)))
  return table.concat(out)
end

local ANSWERS = {
  anthropic = { json = MESSAGE, sse = anthropic_stream() },
  openai = { json = CHAT_COMPLETION, sse = openai_stream() },
  responses = { json = RESPONSE, sse = responses_stream() },
}

-- True if the JSON body has "stream": true. A plain find for the key, then a short anchored
-- pattern after it: a pattern scan over the whole ~900-byte body is not compiled by LuaJIT and
-- costs ~15 us per request, which would halve the mock's ceiling.
local function wants_stream(body)
  local from = 1
  while true do
    local at = string.find(body, '"stream"', from, true)
    if at == nil then
      return false
    end
    from = at + 8
    -- Spaces allowed around the colon, so arms that re-serialize with spaces still get SSE.
    if string.find(string.sub(body, from, from + 15), "^%s*:%s*true") then
      return true
    end
  end
end

-- Serve one request in the given dialect ("anthropic", "openai" or "responses") after `delay` seconds.
-- Any x-api-key / Authorization is accepted: the arms differ in how they forward keys.
function M.serve(dialect, delay)
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  if delay > 0 then
    ngx.sleep(delay) -- non-blocking: other requests proceed while this one waits
  end
  local answer = ANSWERS[dialect]
  if wants_stream(body) then
    ngx.header["Content-Type"] = "text/event-stream"
    ngx.header["Cache-Control"] = "no-cache"
    ngx.print(answer.sse) -- no Content-Length: chunked, like a real stream
  else
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Content-Length"] = #answer.json
    ngx.print(answer.json)
  end
end

-- The paced Anthropic stream for bench/ttfb.py: message_start and content_block_start at once, then
-- each text delta, then the closing events, each after gaps[i] seconds, flushed one by one so that
-- the client sees when the upstream let each piece go. JSON requests get the fast answer.
local PACED = {}
do
  local sse = ANSWERS.anthropic.sse
  local starts = {}
  local from = 1
  while true do
    local at = string.find(sse, "event: ", from, true)
    if at == nil then break end
    starts[#starts + 1] = at
    from = at + 1
  end
  -- 13 events: 2 opening, 8 deltas, 3 closing -> 10 writes.
  local cuts = { starts[1], starts[3], starts[4], starts[5], starts[6], starts[7], starts[8], starts[9],
    starts[10], starts[11], #sse + 1 }
  for i = 1, #cuts - 1 do
    PACED[i] = string.sub(sse, cuts[i], cuts[i + 1] - 1)
  end
end

function M.paced(gaps)
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  if not wants_stream(body) then
    return M.serve("anthropic", 0)
  end
  ngx.header["Content-Type"] = "text/event-stream"
  ngx.header["Cache-Control"] = "no-cache"
  for i, piece in ipairs(PACED) do
    if i > 1 then
      ngx.sleep(gaps[i - 1])
    end
    ngx.print(piece)
    ngx.flush(true)
  end
end

-- Held streams (bench/streams.py): idle streams as a slow model would keep them. The first event is
-- flushed, then the request sleeps (non-blocking) until the client goes away; after HOLD_MAX_S the rest
-- of the stream is sent, so nothing is held forever if a client never leaves.
local HOLD_MARK = "mock-hold"
local HOLD_MAX_S = 600
local HOLD_PARTS = {}
for dialect, answer in pairs(ANSWERS) do
  local cut = string.find(answer.sse, "\n\n", 1, true)
  HOLD_PARTS[dialect] = { head = string.sub(answer.sse, 1, cut + 1), tail = string.sub(answer.sse, cut + 2) }
end

function M.hold_or_serve(dialect)
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  if not string.find(body, HOLD_MARK, 1, true) then
    return M.serve(dialect, 0)
  end
  -- Needs `lua_check_client_abort on` in the location: end the handler as soon as the client leaves.
  ngx.on_abort(function() ngx.exit(499) end)
  local parts = HOLD_PARTS[dialect]
  ngx.header["Content-Type"] = "text/event-stream"
  ngx.header["Cache-Control"] = "no-cache"
  ngx.print(parts.head)
  ngx.flush(true)
  ngx.sleep(HOLD_MAX_S)
  ngx.print(parts.tail)
end

return M
