// Drives the azemu console in Debian's headless Chromium with playwright-core.
//
//   node console.mjs failed-pull <base-url> <screenshot.png>
//     opens the Decisions tab, finds the newest failed container-group pull,
//     opens its sequence diagram and prints (as JSON) the failed check, the
//     outcome and the fix shown; saves a screenshot.
//   node console.mjs groups <base-url> <screenshot.png>
//     prints the text of each container group's card; saves a screenshot.
//   node console.mjs controls <base-url> <screenshot.png>
//     clicks the Controls tab's buttons (advance the clock, add a fault rule,
//     clear the rules, reset) and prints what each answered (JSON).
//   node console.mjs cross-site <base-url> <unused>
//     from a page of another origin (http://127.0.0.1:<a port of its own>), submits a form to
//     /_emulator/reset and sends no-cors fetches to the control API, as a
//     hostile site would; prints the fetches' outcomes.
//   node console.mjs measure <base-url> [runs]
//     loads the console `runs` times (default 5) and prints how long each took
//     from navigation to the page's first complete drawing (ms, JSON).
import { chromium } from "playwright-core";

const [mode, base, arg] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // The emulator's CA is generated per data dir; the page is the emulator's own.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  if (mode === "failed-pull") {
    await page.goto(`${base}/_emulator/ui#traces`);
    await page.waitForSelector("body[data-ready]");
    const row = page.locator('#timeline li[data-kind="aci-pull"][data-failed="true"]').first();
    await row.waitFor();
    await row.click();
    const failed = page.locator("#sequence g.message.failed").first();
    await failed.waitFor();
    const result = {
      failedCheck: await failed.getAttribute("data-check"),
      steps: await page.locator("#trace-detail ol.steps li").allTextContents(),
      outcome: await page.locator("#outcome").textContent(),
      fix: await page.locator("#fix").textContent(),
    };
    await page.screenshot({ path: arg, fullPage: true });
    // The other views, as artifacts beside it.
    for (const tab of ["world", "identities", "registries"]) {
      await page.click(`#tabs button[data-tab=${tab}]`);
      if (tab === "world") await page.locator("#tree .node[data-id]").last().click();
      await page.screenshot({ path: arg.replace(/\.png$/, `-${tab}.png`), fullPage: true });
    }
    console.log(JSON.stringify(result));
  } else if (mode === "groups") {
    await page.goto(`${base}/_emulator/ui#groups`);
    await page.waitForSelector("body[data-ready]");
    const cards = await page.locator("#groups .card[data-group]").allTextContents();
    await page.screenshot({ path: arg, fullPage: true });
    console.log(JSON.stringify({ groups: cards }));
  } else if (mode === "controls") {
    page.on("dialog", (d) => d.accept());
    await page.goto(`${base}/_emulator/ui#controls`);
    await page.waitForSelector("body[data-ready]");
    const said = async (button) => {
      await page.evaluate(() => { document.querySelector("#control-result").textContent = ""; });
      await page.click(button);
      await page.waitForFunction(() => document.querySelector("#control-result").textContent !== "");
      return page.locator("#control-result").textContent();
    };
    await page.fill("#advance-seconds", "120");
    const advance = await said("#advance");
    const addFault = await said("#add-fault");
    // The rules table is redrawn after the answer is shown.
    await page.waitForFunction(() => document.querySelectorAll("#faults tr").length > 1);
    const rulesShown = await page.locator("#faults tr").count();
    const clearFaults = await said("#clear-faults");
    const reset = await said("#reset");
    await page.screenshot({ path: arg, fullPage: true });
    console.log(JSON.stringify({ advance, addFault, rulesShown, clearFaults, reset }));
  } else if (mode === "cross-site") {
    // The hostile site: another origin on this machine (http://127.0.0.1:<port>).
    const { createServer } = await import("node:http");
    const site = createServer((_, res) => { res.setHeader("content-type", "text/html"); res.end("<title>elsewhere</title>"); });
    await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
    await page.goto(`http://127.0.0.1:${site.address().port}/`);
    const outcomes = await page.evaluate(async (base) => {
      const out = {};
      for (const [name, url, body] of [
        ["advance", `${base}/_emulator/clock/advance?seconds=3600`, ""],
        ["principal", `${base}/_emulator/principals`, '{"displayName":"cross-site"}'],
        ["reset", `${base}/_emulator/reset`, "{}"],
      ]) {
        try {
          const r = await fetch(url, { method: "POST", mode: "no-cors", body });
          out[name] = r.type; // "opaque": sent, unreadable
        } catch (e) {
          out[name] = String(e);
        }
      }
      return out;
    }, base);
    // And an HTML form, the classic cross-site request.
    await page.setContent(`<form method="post" action="${base}/_emulator/reset"><input name="a" value="b"></form>`);
    await Promise.all([page.waitForURL("**/_emulator/reset"), page.evaluate(() => document.forms[0].submit())]);
    await page.waitForLoadState();
    const answer = await page.textContent("body");
    outcomes.form = answer.includes('"Forbidden"') ? "refused" : answer;
    site.close();
    console.log(JSON.stringify(outcomes));
  } else if (mode === "measure") {
    const times = [];
    for (let i = 0; i < Number(arg || 5); i++) {
      await page.goto(`${base}/_emulator/ui`);
      await page.waitForSelector("body[data-ready]", { timeout: 60000 });
      times.push(Number(await page.locator("body").getAttribute("data-ready-ms")));
    }
    console.log(JSON.stringify({ readyMs: times }));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} finally {
  await browser.close();
}
