// Opens Tessera's web map in headless Chromium, waits for the map to settle, and
// checks that features of every demo layer were rendered. Saves a screenshot.
//
// Usage: node tests/browser/viewer.mjs http://127.0.0.1:PORT OUT.png
import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
const expected = ["parcels", "zones", "assets", "pings"];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
});
let failed = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1024, height: 768 } });
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));
  page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(base + "/map", { waitUntil: "load" });
  await page.waitForFunction(() => window.tesseraMap !== undefined, null, { timeout: 30000 });
  // Zoom to the city centre so that every layer (points too) has features in view.
  await page.evaluate(() => new Promise(resolve => {
    const map = window.tesseraMap;
    const go = () => { map.jumpTo({ center: map.getCenter(), zoom: 15 }); map.once("idle", resolve); };
    if (map.loaded()) go(); else map.once("load", go);
  }));
  const counts = await page.evaluate(() => {
    const map = window.tesseraMap;
    const out = {};
    for (const g of window.tesseraGroups) {
      const ids = g.layers.map(l => l.id);
      out[g.id] = map.queryRenderedFeatures({ layers: ids }).length;
    }
    return out;
  });
  for (const layer of expected) {
    // Heatmap layers are not queryable; check their source's tiles instead.
    let n = counts[layer] ?? 0;
    if (n === 0) {
      n = await page.evaluate(l => window.tesseraMap.querySourceFeatures(l, { sourceLayer: l }).length, layer);
    }
    const ok = n > 0;
    if (!ok) failed++;
    console.log(`${ok ? "ok" : "FAILED"} ${layer}: ${n} features rendered`);
  }
  const clicked = await page.evaluate(() => window.tesseraMap.getStyle().layers.length);
  console.log(`style has ${clicked} layers`);
  if (errors.length) {
    console.log("page errors:\n  " + errors.join("\n  "));
  }
  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);
} finally {
  await browser.close();
}
console.log(`${expected.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
