// Opens a page in headless Chromium, presses the button `#register`, waits for the
// navigation it starts (through any redirects) and prints where the browser ended and the
// text it shows, as JSON. Usage: node press.mjs URL (CHROMIUM names the browser binary).
import puppeteer from "puppeteer-core";

const [url] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  // Chromium's sandbox refuses to start as root, as CI runs.
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  await page.goto(url, { waitUntil: "load" });
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.click("#register"),
  ]);
  const text = await page.evaluate(() => document.body.innerText);
  process.stdout.write(JSON.stringify({ url: page.url(), text }));
} finally {
  await browser.close();
}
