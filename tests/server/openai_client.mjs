// `cseek serve` through the official OpenAI Node client (and plain fetch where
// the client has no call): chat with reasoning_content, streaming, usage,
// errors, models, completions, the llama.cpp-style extras.
//   CSEEK_BIN=build/cseek node tests/server/openai_client.mjs
import OpenAI from "openai";
import {
    startServer, stopAndCheck, test, fail, summary, assert, assertEq, deadline,
    API_KEY, ALIAS, REASONING, CONTENT,
} from "./lib.mjs";

let server = null;
async function cleanup() { if (server) { await server.stop(); server = null; } }
deadline(240, cleanup, () => server && server.log());

const MESSAGES = [{ role: "system", content: "You are terse." }, { role: "user", content: "Why is the sky blue?" }];

function checkUsage(u, what) {
    assert(u && typeof u === "object", `${what}: no usage`);
    for (const k of ["prompt_tokens", "completion_tokens", "total_tokens", "prompt_cache_hit_tokens", "prompt_cache_miss_tokens"])
        assert(Number.isInteger(u[k]) && u[k] >= 0, `${what}: usage.${k} = ${JSON.stringify(u[k])}`);
    assert(u.prompt_tokens > 0 && u.completion_tokens > 0, `${what}: token counts ${JSON.stringify(u)}`);
    assertEq(u.total_tokens, u.prompt_tokens + u.completion_tokens, `${what}: total_tokens`);
    assertEq(u.prompt_cache_hit_tokens + u.prompt_cache_miss_tokens, u.prompt_tokens, `${what}: cache hit + miss`);
    const r = u.completion_tokens_details && u.completion_tokens_details.reasoning_tokens;
    assert(Number.isInteger(r) && r > 0 && r < u.completion_tokens,
           `${what}: completion_tokens_details.reasoning_tokens = ${JSON.stringify(r)} of ${u.completion_tokens}`);
}

async function expectError(fn, Cls, status, what) {
    try {
        await fn();
    } catch (e) {
        assert(e instanceof Cls, `${what}: got ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
        assertEq(e.status, status, `${what}: status`);
        assert(e.error && typeof e.error.message === "string" && e.error.message.length > 0,
               `${what}: error.message in ${JSON.stringify(e.error)}`);
        return e;
    }
    throw new Error(`${what}: no error`);
}

// {"error":{"message","type","code"}} with the status asked for
async function expectErrorBody(res, status, what) {
    assertEq(res.status, status, `${what}: status`);
    const j = await res.json();
    assert(j && j.error && typeof j.error.message === "string" && typeof j.error.type === "string" && "code" in j.error,
           `${what}: body ${JSON.stringify(j)}`);
}

async function main() {
    try {
        server = await startServer(["--parallel", "2"]);
    } catch (e) {
        fail("server starts", e.message);
        return;
    }
    const url = server.url;
    const client = new OpenAI({ baseURL: url + "/v1", apiKey: API_KEY, maxRetries: 0, timeout: 60000 });
    const auth = { Authorization: "Bearer " + API_KEY, "Content-Type": "application/json" };

    await test("GET /health", async () => {
        const r = await fetch(url + "/health");
        assertEq(r.status, 200, "status");
    });

    await test("models.list names the alias", async () => {
        const ids = [];
        for await (const m of client.models.list()) ids.push(m.id);
        assert(ids.includes(ALIAS), "ids " + JSON.stringify(ids));
        const one = (await client.models.list()).data.find((m) => m.id === ALIAS);
        assertEq(one.object, "model", "object");
    });

    let first = null;
    await test("chat: reasoning_content and content exactly as scripted", async () => {
        first = await client.chat.completions.create({ model: ALIAS, messages: MESSAGES });
        assertEq(first.object, "chat.completion", "object");
        assert(typeof first.id === "string" && first.id.length > 0, "id");
        assert(Number.isInteger(first.created), "created");
        assertEq(first.choices.length, 1, "choices");
        const m = first.choices[0].message; // reasoning_content is DeepSeek's field: read it off the raw object
        assertEq(m.role, "assistant", "role");
        assertEq(m.reasoning_content, REASONING, "reasoning_content");
        assertEq(m.content, CONTENT, "content");
        assertEq(first.choices[0].finish_reason, "stop", "finish_reason");
    });

    await test("chat: usage with reasoning and prompt-cache tokens", async () => {
        assert(first, "no reply above");
        checkUsage(first.usage, "usage");
    });

    await test("chat: the same prompt again hits the prompt cache", async () => {
        const again = await client.chat.completions.create({ model: ALIAS, messages: MESSAGES });
        assertEq(again.choices[0].message.content, CONTENT, "content");
        checkUsage(again.usage, "usage");
        assertEq(again.usage.prompt_tokens, first.usage.prompt_tokens, "prompt_tokens");
        assert(again.usage.prompt_cache_hit_tokens > 0, "prompt_cache_hit_tokens " + JSON.stringify(again.usage));
    });

    await test("chat: max_tokens cuts the reply with finish_reason length", async () => {
        const r = await client.chat.completions.create({ model: ALIAS, messages: MESSAGES, max_tokens: 3 });
        assertEq(r.choices[0].finish_reason, "length", "finish_reason");
        assert(r.usage.completion_tokens <= 3, "completion_tokens " + r.usage.completion_tokens);
    });

    await test("chat stream: reasoning deltas first, then content, joined as scripted, usage last", async () => {
        const stream = await client.chat.completions.create({
            model: ALIAS, messages: MESSAGES, stream: true, stream_options: { include_usage: true },
        });
        let reasoning = "", content = "", order = "", finish = null, usage = null, chunks = 0, afterUsage = 0;
        for await (const chunk of stream) {
            chunks++;
            assertEq(chunk.object, "chat.completion.chunk", "object");
            if (usage) afterUsage++;
            if (chunk.usage) usage = chunk.usage;
            const c = chunk.choices && chunk.choices[0];
            if (!c) continue;
            const d = c.delta || {};
            if (d.reasoning_content) { reasoning += d.reasoning_content; if (!order.endsWith("r")) order += "r"; }
            if (d.content) { content += d.content; if (!order.endsWith("c")) order += "c"; }
            if (c.finish_reason) finish = c.finish_reason;
        }
        assertEq(order, "rc", "delta order (r = reasoning, c = content)");
        assertEq(reasoning, REASONING, "reasoning");
        assertEq(content, CONTENT, "content");
        assertEq(finish, "stop", "finish_reason");
        assert(chunks > 3, "chunks " + chunks);
        checkUsage(usage, "usage");
        assertEq(afterUsage, 0, "chunks after the usage chunk");
    });

    await test("chat stream: raw SSE ends with data: [DONE]", async () => {
        const r = await fetch(url + "/v1/chat/completions", {
            method: "POST", headers: auth, body: JSON.stringify({ model: ALIAS, messages: MESSAGES, stream: true }),
        });
        assertEq(r.status, 200, "status");
        assert(/^text\/event-stream/.test(r.headers.get("content-type") || ""), "content-type " + r.headers.get("content-type"));
        const text = await r.text();
        const events = text.split(/\r?\n\r?\n/).filter((e) => e.trim());
        for (const e of events) assert(/^data: /.test(e), "event " + JSON.stringify(e.slice(0, 80)));
        assertEq(events[events.length - 1].trim(), "data: [DONE]", "last event");
        for (const e of events.slice(0, -1)) {
            const j = JSON.parse(e.slice(6));
            assert(!j.usage, "usage without stream_options.include_usage");
        }
    });

    await test("chat: a second turn with an earlier answer", async () => {
        const r = await client.chat.completions.create({
            model: ALIAS,
            messages: [...MESSAGES, { role: "assistant", content: CONTENT }, { role: "user", content: "And at sunset?" }],
        });
        assertEq(r.choices[0].message.content, CONTENT, "content");
        assertEq(r.choices[0].message.reasoning_content, REASONING, "reasoning_content");
    });

    await test("two streams at once (--parallel 2) both finish as scripted", async () => {
        const one = async () => {
            const s = await client.chat.completions.create({ model: ALIAS, messages: MESSAGES, stream: true });
            let c = "", r = "";
            for await (const ch of s) { const d = ch.choices[0] && ch.choices[0].delta; if (d) { c += d.content || ""; r += d.reasoning_content || ""; } }
            return [r, c];
        };
        const res = await Promise.all([one(), one()]);
        for (const [r, c] of res) { assertEq(r, REASONING, "reasoning"); assertEq(c, CONTENT, "content"); }
    });

    await test("a client that drops a stream leaves the server serving", async () => {
        const ac = new AbortController();
        const s = await client.chat.completions.create({ model: ALIAS, messages: MESSAGES, stream: true }, { signal: ac.signal });
        // abort at the first chunk and leave the loop at once: chunks already
        // buffered would otherwise still be iterated, and undici may never end a
        // body aborted after its last byte arrived (the test would hang, not the server)
        try { for await (const ch of s) { void ch; ac.abort(); break; } } catch (e) { /* the abort */ }
        const r = await client.chat.completions.create({ model: ALIAS, messages: MESSAGES });
        assertEq(r.choices[0].message.content, CONTENT, "content after the drop");
    });

    await test("a wrong API key is AuthenticationError (401)", async () => {
        const bad = new OpenAI({ baseURL: url + "/v1", apiKey: "sk-wrong", maxRetries: 0 });
        await expectError(() => bad.chat.completions.create({ model: ALIAS, messages: MESSAGES }), OpenAI.AuthenticationError, 401, "chat");
        await expectError(() => bad.models.list(), OpenAI.AuthenticationError, 401, "models");
    });

    await test("no API key is 401 with an error body", async () => {
        const r = await fetch(url + "/v1/chat/completions", {
            method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ model: ALIAS, messages: MESSAGES }),
        });
        await expectErrorBody(r, 401, "no key");
    });

    await test("a bad body is BadRequestError (400)", async () => {
        await expectError(() => client.chat.completions.create({ model: ALIAS, messages: "not a list" }), OpenAI.BadRequestError, 400, "messages not a list");
        await expectError(() => client.chat.completions.create({ model: ALIAS }), OpenAI.BadRequestError, 400, "no messages");
        await expectError(() => client.chat.completions.create({ model: ALIAS, messages: [{ role: "wizard", content: "hi" }] }),
                          OpenAI.BadRequestError, 400, "unknown role");
    });

    await test("broken JSON is 400 with {error: {message, type, code}}", async () => {
        const r = await fetch(url + "/v1/chat/completions", { method: "POST", headers: auth, body: '{"messages": [' });
        await expectErrorBody(r, 400, "broken JSON");
    });

    await test("completions: text and usage", async () => {
        const r = await client.completions.create({ model: ALIAS, prompt: "The sky is", max_tokens: 8 });
        assertEq(r.object, "text_completion", "object");
        assert(typeof r.choices[0].text === "string" && r.choices[0].text.length > 0, "text " + JSON.stringify(r.choices[0].text));
        assert(r.usage && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8, "usage " + JSON.stringify(r.usage));
    });

    await test("tokenize and detokenize round-trip", async () => {
        const text = "Hello <i>there</i> & caf\u00e9";
        const t = await fetch(url + "/tokenize", { method: "POST", headers: auth, body: JSON.stringify({ content: text }) });
        assertEq(t.status, 200, "tokenize status");
        const { tokens } = await t.json();
        assert(Array.isArray(tokens) && tokens.length > 0 && tokens.every(Number.isInteger), "tokens " + JSON.stringify(tokens));
        const d = await fetch(url + "/detokenize", { method: "POST", headers: auth, body: JSON.stringify({ tokens }) });
        assertEq(d.status, 200, "detokenize status");
        assertEq((await d.json()).content, text, "content");
    });

    await test("the server is still up", async () => {
        assertEq(server.exited(), null, "exit");
        assertEq((await fetch(url + "/health")).status, 200, "health");
    });
}

try {
    await main();
} catch (e) {
    fail("openai suite", e && e.stack ? e.stack : e);
}
if (server) { await stopAndCheck(server); server = null; }
await cleanup();
process.exit(summary());
