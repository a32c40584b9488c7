// Drives the azemu console in Debian's headless Chromium with playwright-core.
//
//   node console.mjs failed-pull <base-url> <screenshot.png>
//     opens the Decisions tab, finds the newest failed container-group pull,
//     opens its sequence diagram and prints (as JSON) the failed check, the
//     outcome and the fix shown; saves a screenshot.
//   node console.mjs groups <base-url> <screenshot.png>
//     prints the text of each container group's card; saves a screenshot.
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
