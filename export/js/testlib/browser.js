// Drives js/web/ in Debian's headless Chromium with playwright-core (no browser download).
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** Waits until window.tfncsn.state is one of `states` (or the page reports an error). */
export async function waitForState(page, states, timeout = 300000) {
  await page.waitForFunction((wanted) => window.tfncsn && (wanted.includes(window.tfncsn.state)
    || ['error', 'cancelled'].includes(window.tfncsn.state)), states, { timeout, polling: 100 });
  return page.evaluate(() => ({ ...window.tfncsn, samples: null }));
}

/** Share of a canvas's pixels that are neither white nor the page's "not yet" grey, and the
 *  number of distinct grey levels among them. */
export async function inkOf(page, selector) {
  return page.evaluate((sel) => {
    const canvas = document.querySelector(sel);
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let ink = 0;
    const levels = new Set();
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      if ((r === 255 && g === 255 && b === 255) || (r === 200 && g === 200 && b === 200)) continue;
      ink++;
      levels.add(`${r},${g},${b}`);
    }
    return { share: ink / (data.length / 4), levels: levels.size };
  }, selector);
}
