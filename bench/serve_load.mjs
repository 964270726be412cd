// Load benchmark of `cseek serve` (not a test): C concurrent streaming chat
// clients send R requests in all; reports requests/s, aggregate generated
// tokens/s, time to first token (p50/p99), errors, and the server's peak RSS.
// Needs only Node.js >= 18 (fetch); run it through bench/serve_load.
//
//   bench/serve_load -m MODEL.gguf [-P 4] [-c 4] [-n 32] [--max-tokens 64]
//   bench/serve_load --url http://127.0.0.1:8080 [--pid PID] [--api-key KEY] [-c 4] [-n 32]
//
//   -m, --model FILE     start `cseek serve -m FILE` on a free port (stopped at the end)
//   -P, --parallel P     its --parallel (slots; default 4)
//       --ctx-size N     its --ctx-size
//       --bin CSEEK      the binary (default $CSEEK_BIN or build/cseek)
//       --url URL        use a running server instead
//       --pid PID        that server's process, for its peak RSS (default: none)
//       --api-key KEY    sent as Bearer (and given to the started server)
//   -c, --concurrency C  clients at once (default: P)
//   -n, --requests R     requests in all (default 32)
//       --max-tokens N   per request (default 64)
//       --prompt TEXT    user message; each request appends " (#i)" so prompts differ
//       --same-prompt    send exactly the same prompt every time (prefix cache hits)
//       --warmup N       requests before timing starts (default 1)
//       --json           print one JSON line as well
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";

function usage(msg) {
    if (msg) console.error(`serve_load: ${msg}`);
    console.error("usage: bench/serve_load (-m MODEL | --url URL) [-P P] [-c C] [-n R] [--max-tokens N] [--json] (see the top of bench/serve_load.mjs)");
    process.exit(2);
}

const o = {
    model: null, parallel: 4, ctx: null, bin: process.env.CSEEK_BIN || "build/cseek", url: null, pid: null,
    key: null, conc: null, requests: 32, maxTokens: 64, prompt: "Write a short story about a lighthouse keeper.",
    same: false, warmup: 1, json: false,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    const int = (lo) => { const s = v(), n = Number(s); if (!Number.isInteger(n) || n < lo) usage(`${a}: bad number ${s}`); return n; };
    switch (a) {
    case "-m": case "--model": o.model = v(); break;
    case "-P": case "--parallel": o.parallel = int(1); break;
    case "--ctx-size": o.ctx = int(1); break;
    case "--bin": o.bin = v(); break;
    case "--url": o.url = v().replace(/\/+$/, ""); break;
    case "--pid": o.pid = int(1); break;
    case "--api-key": o.key = v(); break;
    case "-c": case "--concurrency": o.conc = int(1); break;
    case "-n": case "--requests": o.requests = int(1); break;
    case "--max-tokens": o.maxTokens = int(1); break;
    case "--prompt": o.prompt = v(); break;
    case "--same-prompt": o.same = true; break;
    case "--warmup": o.warmup = int(0); break;
    case "--json": o.json = true; break;
    case "-h": case "--help": usage(); break;
    default: usage(`unknown option ${a}`);
    }
}
if (!o.model === !o.url) usage("give one of -m MODEL and --url URL");
if (o.conc === null) o.conc = o.parallel;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((res, rej) => {
    const s = net.createServer(); s.on("error", rej);
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
});

let proc = null, exited = null, log = "";
async function start() {
    const port = await freePort();
    const args = ["serve", "-m", o.model, "--host", "127.0.0.1", "--port", String(port), "--parallel", String(o.parallel)];
    if (o.ctx) args.push("--ctx-size", String(o.ctx));
    if (o.key) args.push("--api-key", o.key);
    proc = spawn(o.bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr.on("data", (d) => { log = (log + d).slice(-4000); });
    proc.on("exit", (c, s) => { exited = s || c; });
    proc.on("error", (e) => { exited = e.message; });
    o.url = `http://127.0.0.1:${port}`;
    o.pid = proc.pid;
    const t0 = Date.now();
    for (;;) {
        if (exited !== null) throw new Error(`cseek serve exited (${exited}):\n${log}`);
        try { if ((await fetch(o.url + "/health")).ok) return; } catch (e) { /* not yet */ }
        if (Date.now() - t0 > 600000) throw new Error("cseek serve did not answer /health in 600 s");
        await sleep(200);
    }
}
async function stop() {
    if (!proc || exited !== null) return;
    proc.kill("SIGTERM");
    for (let i = 0; i < 100 && exited === null; i++) await sleep(100);
    if (exited === null) proc.kill("SIGKILL");
}

function peakRssKiB(pid) {
    if (!pid) return null;
    try {
        const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        return m ? Number(m[1]) : null;
    } catch (e) { return null; }
}

const headers = { "Content-Type": "application/json" };

// One streamed request: {ok, ttft (ms), total (ms), tokens, error}
async function one(i) {
    const body = {
        messages: [{ role: "user", content: o.same ? o.prompt : `${o.prompt} (#${i})` }],
        stream: true, stream_options: { include_usage: true }, max_tokens: o.maxTokens,
    };
    const t0 = performance.now();
    let ttft = null, tokens = null, deltas = 0, done = false;
    try {
        const res = await fetch(o.url + "/v1/chat/completions", { method: "POST", headers, body: JSON.stringify(body) });
        if (!res.ok) return { ok: false, error: `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}` };
        const dec = new TextDecoder();
        let buf = "";
        for await (const chunk of res.body) {
            buf += dec.decode(chunk, { stream: true });
            let k;
            while ((k = buf.search(/\r?\n\r?\n/)) >= 0) {
                const ev = buf.slice(0, k);
                buf = buf.slice(k).replace(/^\r?\n\r?\n/, "");
                const data = ev.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
                if (!data) continue;
                if (data === "[DONE]") { done = true; continue; }
                const j = JSON.parse(data);
                if (j.error) return { ok: false, error: "stream error: " + (j.error.message || JSON.stringify(j.error)) };
                if (j.usage && Number.isInteger(j.usage.completion_tokens)) tokens = j.usage.completion_tokens;
                const d = j.choices && j.choices[0] && j.choices[0].delta;
                if (d && (d.content || d.reasoning_content)) {
                    if (ttft === null) ttft = performance.now() - t0;
                    deltas++;
                }
            }
        }
    } catch (e) {
        return { ok: false, error: String(e && e.message || e) };
    }
    if (!done) return { ok: false, error: "the stream ended without data: [DONE]" };
    return { ok: true, ttft, total: performance.now() - t0, tokens: tokens ?? deltas };
}

function pct(sorted, p) {
    if (!sorted.length) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))];
}

async function main() {
    if (o.model) await start();
    if (o.key) headers.Authorization = "Bearer " + o.key;
    for (let i = 0; i < o.warmup; i++) {
        const r = await one(-1 - i);
        if (!r.ok) throw new Error("warm-up request failed: " + r.error);
    }
    let next = 0;
    const results = [];
    const t0 = performance.now();
    const worker = async () => { for (let i; (i = next++) < o.requests;) results.push(await one(i)); };
    await Promise.all(Array.from({ length: Math.min(o.conc, o.requests) }, worker));
    const wall = (performance.now() - t0) / 1000;
    const good = results.filter((r) => r.ok);
    const errors = results.filter((r) => !r.ok);
    const tokens = good.reduce((s, r) => s + r.tokens, 0);
    const ttfts = good.filter((r) => r.ttft !== null).map((r) => r.ttft).sort((a, b) => a - b);
    const rss = peakRssKiB(o.pid);
    const out = {
        url: o.url, parallel: o.model ? o.parallel : null, concurrency: o.conc, requests: o.requests,
        max_tokens: o.maxTokens, wall_s: +wall.toFixed(3), requests_per_s: +(good.length / wall).toFixed(3),
        gen_tokens: tokens, gen_tokens_per_s: +(tokens / wall).toFixed(2),
        ttft_p50_ms: ttfts.length ? +pct(ttfts, 50).toFixed(1) : null,
        ttft_p99_ms: ttfts.length ? +pct(ttfts, 99).toFixed(1) : null,
        errors: errors.length, peak_rss_mib: rss === null ? null : +(rss / 1024).toFixed(1),
    };
    console.log(`server      ${o.url}${o.model ? ` (cseek serve -m ${o.model} --parallel ${o.parallel})` : ""}`);
    console.log(`load        ${o.requests} requests, ${o.conc} at once, max_tokens ${o.maxTokens}, ${out.wall_s} s`);
    console.log(`throughput  ${out.requests_per_s} requests/s, ${out.gen_tokens_per_s} generated tokens/s (${tokens} tokens)`);
    // a random-weight model's tokens often print nothing (control or partial
    // pieces), so a stream may carry no text delta to time
    console.log(ttfts.length ? `first token p50 ${out.ttft_p50_ms} ms, p99 ${out.ttft_p99_ms} ms (${ttfts.length} of ${good.length} streams had text)`
                             : "first token n/a: no stream carried text (a random-weight model's tokens may print nothing)");
    console.log(`errors      ${errors.length}${errors.length ? ": " + [...new Set(errors.map((e) => e.error))].slice(0, 3).join(" | ") : ""}`);
    console.log(`peak RSS    ${rss === null ? "unknown (give --pid)" : out.peak_rss_mib + " MiB (VmHWM)"}`);
    if (o.json) console.log(JSON.stringify(out));
    return errors.length ? 1 : 0;
}

let rc = 1;
try { rc = await main(); } catch (e) { console.error("serve_load: " + (e && e.message || e)); }
await stop();
process.exit(rc);
