// The chat page (GET /) in headless Debian chromium through playwright-core,
// against a real `cseek serve` with a scripted model: the API key field,
// streamed reasoning and answer, escaping, a second turn, Stop and New chat.
// Saves a screenshot to $BUILD/artifacts/chat-page.png.
//   CSEEK_BIN=build/cseek node tests/server/browser.mjs
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
    startServer, stopAndCheck, test, check, fail, summary, assert, assertEq, deadline, artifactsDir,
    API_KEY, REASONING, CONTENT,
} from "./lib.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"];
const T = 30000; // ms to wait for one reply

let server = null, browser = null, profile = null;
async function cleanup() {
    if (browser) { try { await browser.close(); } catch (e) { /* ignore */ } browser = null; }
    if (server) { await server.stop(); server = null; }
    if (profile) { rmSync(profile, { recursive: true, force: true }); profile = null; }
}
deadline(240, cleanup, () => server && server.log());

async function main() {
    try {
        server = await startServer(["--parallel", "2"]);
    } catch (e) {
        fail("server starts", e.message);
        return;
    }
    // launchPersistentContext: a fresh, empty profile directory of our own
    profile = mkdtempSync(path.join(tmpdir(), "cseek-chromium-"));
    let context;
    try {
        context = await chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1000, height: 760 },
        });
        browser = context;
    } catch (e) {
        fail("chromium starts", e.message);
        return;
    }
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
        // the 401s asked for below are logged by chromium itself
        if (m.type() === "error" && !/Failed to load resource.*\b401\b/.test(m.text())) pageErrors.push("console: " + m.text());
    });
    // Every chat request the page makes, parsed.
    const requests = [];
    page.on("request", (r) => {
        if (r.url().endsWith("/v1/chat/completions") && r.method() === "POST") {
            requests.push({ body: JSON.parse(r.postData() || "null"), auth: r.headers()["authorization"] || null });
        }
    });
    page.on("response", (r) => { if (r.status() >= 400 && r.status() !== 401) pageErrors.push(`HTTP ${r.status()} for ${r.url()}`); });
    // Any request off this server (a CDN, fonts) is a failure: the page is self-contained.
    const foreign = [];
    page.on("request", (r) => { if (!r.url().startsWith(server.url) && !r.url().startsWith("data:")) foreign.push(r.url()); });

    const assistants = page.locator(".msg.assistant");
    const settled = async (i) => {
        await page.waitForFunction((i) => {
            const m = document.querySelectorAll(".msg.assistant")[i];
            return m && ["done", "error", "stopped"].includes(m.dataset.state);
        }, i, { timeout: T });
        return assistants.nth(i).getAttribute("data-state");
    };

    await test("GET / serves the page as text/html", async () => {
        const res = await page.goto(server.url + "/", { waitUntil: "load" });
        assertEq(res.status(), 200, "status");
        assert(/^text\/html/.test(res.headers()["content-type"] || ""), "content-type " + res.headers()["content-type"]);
        assertEq(await page.title(), "cseek", "title");
        for (const sel of ["#input", "#send", "#stop", "#api-key", "#new-chat", "#messages"])
            assertEq(await page.locator(sel).count(), 1, sel);
    });

    await test("without the API key the reply is an error that names 401", async () => {
        await page.fill("#input", "hi");
        await page.press("#input", "Enter");
        assertEq(await settled(0), "error", "state");
        const err = await assistants.nth(0).locator(".error").textContent();
        assert(/401/.test(err), "error text: " + err);
        assertEq(requests.length, 1, "requests");
        assertEq(requests[0].auth, null, "authorization header without a key");
        // the failed turn gives its text back
        assertEq(await page.inputValue("#input"), "hi", "input after the error");
    });

    await test("the API key is kept in localStorage across a reload", async () => {
        await page.fill("#api-key", API_KEY);
        await page.reload({ waitUntil: "load" });
        assertEq(await page.inputValue("#api-key"), API_KEY, "key field after reload");
        assertEq(await page.evaluate(() => localStorage.getItem("cseek.apiKey")), API_KEY, "localStorage");
        assertEq(await assistants.count(), 0, "messages after reload");
    });

    await test("Shift+Enter adds a newline and does not send", async () => {
        const before = requests.length;
        await page.fill("#input", "");
        await page.locator("#input").pressSequentially("Why is the sky");
        await page.keyboard.press("Shift+Enter");
        await page.keyboard.type("blue?");
        assertEq(await page.inputValue("#input"), "Why is the sky\nblue?", "input");
        await page.waitForTimeout(200);
        assertEq(requests.length, before, "requests");
    });

    const firstQuestion = "Why is the sky\nblue?";
    await test("Enter streams the reasoning (open while it streams) and then the answer", async () => {
        // watch the reasoning block while the reply streams: from the mutation records, since a quick
        // server may deliver the whole reply in one read, opening and closing the block in one task
        await page.evaluate(() => {
            window.__seen = { opened: false, textWhileOpen: false };
            let open = false;
            new MutationObserver((records) => {
                for (const r of records) {
                    const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
                    if (r.type === "attributes" && r.attributeName === "open" && t.matches("details.reasoning")) {
                        if (r.oldValue === null) { window.__seen.opened = true; open = true; } else open = false;
                    } else if (r.type !== "attributes" && t && t.closest(".reasoning-text") && open) {
                        window.__seen.textWhileOpen = true;
                    }
                }
            }).observe(document.getElementById("messages"),
                       { subtree: true, childList: true, characterData: true, attributes: true, attributeOldValue: true });
        });
        await page.press("#input", "Enter");
        assertEq(await assistants.count(), 1, "assistant messages");
        assertEq(await settled(0), "done", "state");
        const a = assistants.nth(0);
        assertEq(await a.locator(".reasoning .reasoning-text").textContent(), REASONING, "reasoning");
        assertEq(await a.locator(".content").textContent(), CONTENT, "content");
        assertEq(await page.locator(".msg.user").first().textContent(), firstQuestion, "user message");
        const seen = await page.evaluate(() => window.__seen);
        assert(seen.opened, "the reasoning block was never opened while streaming");
        assert(seen.textWhileOpen, "the reasoning text did not stream into the open block");
        const summaryText = await a.locator(".reasoning summary").textContent();
        assert(/^Thought for \d+(\.\d)? s$/.test(summaryText), "summary: " + summaryText);
        assertEq(await a.locator("details.reasoning").evaluate((d) => d.open), false, "reasoning open after the reply");
        assertEq(await page.inputValue("#input"), "", "input after sending");
        const body = requests[requests.length - 1].body;
        assertEq(requests[requests.length - 1].auth, "Bearer " + API_KEY, "authorization");
        assertEq(body.stream, true, "stream");
        assertEq(JSON.stringify(body.messages), JSON.stringify([{ role: "user", content: firstQuestion }]), "messages");
    });

    await test("server text is shown as text, never as HTML", async () => {
        const a = assistants.nth(0);
        assertEq(await a.locator(".content *").count(), 0, "elements in the answer");
        assertEq(await a.locator(".reasoning-text *").count(), 0, "elements in the reasoning");
        assertEq(await page.evaluate(() => typeof window.__pwned), "undefined", "window.__pwned");
    });

    await test("the reasoning block opens on click", async () => {
        const a = assistants.nth(0);
        await a.locator(".reasoning summary").click();
        assertEq(await a.locator("details.reasoning").evaluate((d) => d.open), true, "open after click");
        assert(await a.locator(".reasoning-text").isVisible(), "reasoning visible");
    });

    await test("a second turn (Send button) sends the history without the reasoning", async () => {
        await page.fill("#input", "And at sunset?");
        await page.click("#send");
        assertEq(await settled(1), "done", "state");
        const a = assistants.nth(1);
        assertEq(await a.locator(".reasoning .reasoning-text").textContent(), REASONING, "reasoning");
        assertEq(await a.locator(".content").textContent(), CONTENT, "content");
        const body = requests[requests.length - 1].body;
        assertEq(JSON.stringify(body.messages), JSON.stringify([
            { role: "user", content: firstQuestion },
            { role: "assistant", content: CONTENT },
            { role: "user", content: "And at sunset?" },
        ]), "messages");
        assert(/tokens/.test(await a.locator(".stats").textContent()), "usage shown");
    });

    await test("screenshot saved", async () => {
        const file = path.join(artifactsDir(), "chat-page.png");
        await page.screenshot({ path: file, fullPage: false });
        console.log(`   screenshot: ${file}`);
    });

    await test("Stop ends a reply and the page takes the next message", async () => {
        // before the response: Send and Stop in one go
        await page.fill("#input", "Stop this one");
        await page.evaluate(() => { document.getElementById("send").click(); document.getElementById("stop").click(); });
        assertEq(await settled(2), "stopped", "state when stopped at once");
        assertEq(await assistants.nth(2).locator(".error").count(), 0, "errors");
        assert(await page.locator("#send").isVisible(), "send button back");
        assert(!(await page.locator("#stop").isVisible()), "stop button hidden");
        // while it streams (the reply may be too quick to catch: then it is done)
        await page.fill("#input", "Stop this one too");
        await page.click("#send");
        await page.waitForFunction(() => {
            const m = document.querySelectorAll(".msg.assistant")[3];
            return m && (m.querySelector(".reasoning-text").textContent.length > 0 || m.dataset.state !== "waiting");
        }, null, { timeout: T });
        await page.evaluate(() => { const b = document.getElementById("stop"); if (!b.hidden) b.click(); });
        const state = await settled(3);
        assert(state === "stopped" || state === "done", "state " + state);
        assertEq(await assistants.nth(3).locator(".error").count(), 0, "errors");
        // the server still serves the next reply
        await page.fill("#input", "Again");
        await page.press("#input", "Enter");
        assertEq(await settled(4), "done", "next reply");
        assertEq(await assistants.nth(4).locator(".content").textContent(), CONTENT, "content");
    });

    await test("New chat clears the conversation and its history", async () => {
        await page.click("#new-chat");
        assertEq(await page.locator(".msg").count(), 0, "messages");
        await page.fill("#input", "Fresh start");
        await page.press("#input", "Enter");
        assertEq(await settled(0), "done", "state");
        const body = requests[requests.length - 1].body;
        assertEq(JSON.stringify(body.messages), JSON.stringify([{ role: "user", content: "Fresh start" }]), "messages");
    });

    await test("the dark scheme renders", async () => {
        await page.emulateMedia({ colorScheme: "dark" });
        const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        assert(bg !== "rgb(255, 255, 255)", "background " + bg);
        await page.screenshot({ path: path.join(artifactsDir(), "chat-page-dark.png") });
        await page.emulateMedia({ colorScheme: "light" });
    });

    check("no requests off the server", foreign.length === 0, foreign.join(", "));
    check("no page errors", pageErrors.length === 0, pageErrors.join("\n"));
}

try {
    await main();
} catch (e) {
    fail("browser suite", e && e.stack ? e.stack : e);
}
if (browser) { try { await browser.close(); } catch (e) { /* ignore */ } browser = null; }
if (server) { await stopAndCheck(server); server = null; }
await cleanup();
process.exit(summary());
