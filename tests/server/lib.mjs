// Shared by the Node suites: a scripted model, a `cseek serve` on a free port,
// and the "ok name" / "FAIL name" / "N passed, N failed" reporting of the C tests.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import path from "node:path";

export const BUILD = process.env.BUILD || "build";
export const CSEEK_BIN = process.env.CSEEK_BIN || path.join(BUILD, "cseek");
export const API_KEY = "sk-cseek-test-1234";
export const ALIAS = "cseek-scripted";
// What the scripted model says after any prompt. Markup, quotes, ampersands, a
// newline and non-ASCII text check that nothing on the way treats it as HTML.
export const REASONING = 'Let me think <b>hard</b> & "carefully".';
export const CONTENT = "Hello <i>there</i> & <img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>!\nSecond line: caf\u00e9 \u2713";
export const SCRIPT = `<think>${REASONING}</think>${CONTENT}`;

let passed = 0, failed = 0;
export function ok(name) { passed++; console.log(`ok ${name}`); }
export function fail(name, why) {
    failed++;
    console.log(`FAIL ${name}${why ? ": " + String(why).split("\n").join("\n     ") : ""}`);
}
export function check(name, cond, why) { cond ? ok(name) : fail(name, why); return !!cond; }
// Runs one named test; an exception is a failure with its message.
export async function test(name, fn) {
    try {
        const r = await fn();
        if (r === false) fail(name); else ok(name);
    } catch (e) {
        fail(name, e && e.stack ? e.stack.split("\n").slice(0, 3).join("\n") : e);
    }
}
export function summary() {
    console.log(`${passed} passed, ${failed} failed`);
    return failed === 0 && passed > 0 ? 0 : 1;
}
export function assertEq(got, want, what) {
    if (got !== want) throw new Error(`${what || "value"}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
export function assert(cond, what) { if (!cond) throw new Error(what || "assertion failed"); }

export function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.unref();
        s.on("error", reject);
        s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Writes the scripted model and starts `cseek serve` with an API key; resolves
// once GET /health answers 200. Returns {url, proc, dir, log(), stop()}.
export async function startServer(extraArgs = []) {
    const dir = mkdtempSync(path.join(tmpdir(), "cseek-node-"));
    const model = path.join(dir, "scripted.gguf");
    execFileSync(CSEEK_BIN, ["mkmodel", "--script", SCRIPT, "-o", model], { stdio: ["ignore", "ignore", "inherit"] });
    const port = await freePort();
    const args = ["serve", "-m", model, "--host", "127.0.0.1", "--port", String(port),
                  "--api-key", API_KEY, "--model-alias", ALIAS, ...extraArgs];
    const proc = spawn(CSEEK_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    proc.stdout.on("data", (d) => { log += d; });
    proc.stderr.on("data", (d) => { log += d; });
    let exited = null;
    proc.on("exit", (code, sig) => { exited = sig || code; });
    const url = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    for (;;) {
        if (exited !== null) {
            rmSync(dir, { recursive: true, force: true });
            throw new Error(`cseek serve exited (${exited}) before answering /health:\n${log.slice(-2000)}`);
        }
        try {
            const r = await fetch(url + "/health");
            if (r.status === 200) break;
        } catch (e) { /* not listening yet */ }
        if (Date.now() - t0 > 60000) {
            proc.kill("SIGKILL");
            rmSync(dir, { recursive: true, force: true });
            throw new Error(`cseek serve did not answer /health within 60 s:\n${log.slice(-2000)}`);
        }
        await sleep(100);
    }
    const stop = async () => {
        if (exited === null) {
            proc.kill("SIGTERM");
            for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
            if (exited === null) proc.kill("SIGKILL");
        }
        rmSync(dir, { recursive: true, force: true });
        return exited;
    };
    return { url, proc, dir, port, log: () => log, stop, exited: () => exited };
}

// Stops the server and checks how it went: SIGTERM ends it with status 0, and
// its log has no sanitizer report (make test SAN=1 runs these suites too).
export async function stopAndCheck(server) {
    const was = server.exited();
    const code = await server.stop();
    const log = server.log();
    check("the server ran to the end", was === null, `it had exited (${was}):\n${log.slice(-2000)}`);
    if (was === null) check("SIGTERM stops the server with status 0", code === 0, `exit ${code}:\n${log.slice(-2000)}`);
    const m = /(ERROR: \w+Sanitizer|runtime error:)[\s\S]{0,1500}/.exec(log);
    check("no sanitizer report in the server's log", !m, m && m[0]);
}

export function artifactsDir() {
    const d = path.join(BUILD, "artifacts");
    mkdirSync(d, { recursive: true });
    return d;
}

// A hard deadline for a whole suite, so a hung server cannot hang `make test`;
// the failure shows the end of the server's log (log: a function giving it).
export function deadline(seconds, cleanup, log) {
    const t = setTimeout(async () => {
        const tail = log ? String(log() || "").slice(-3000) : "";
        fail("suite finished in time", `still running after ${seconds} s${tail ? "; the server's log ends:\n" + tail : ""}`);
        try { await cleanup(); } catch (e) { /* ignore */ }
        process.exit(summary() || 1);
    }, seconds * 1000);
    t.unref();
}
