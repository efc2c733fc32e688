import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build, type Rolldown } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/verify/onetouch/protocol.js';
import { CANONICAL_VECTORS } from '../test/vectors/canonical-json.js';
import { launchChromium, watchPage } from './helpers.js';

/**
 * The PWA signs SHA-256 of its own canonical JSON of `{ message, details }`; the service recomputes
 * it with its own implementation and refuses an approval whose hash differs. Node runs both on the
 * shared known answers (test/authenticator/protocol.test.ts); this runs the PWA's real module,
 * web/authenticator/protocol.ts bundled by Vite, in Chromium, whose engine is the one that matters
 * (string comparison, Array.from on surrogate pairs, key order, JSON.stringify escaping).
 *
 * The PWA exports only canonicalJson: it builds the details hash and the approval signing string
 * inline in answer() (which needs an activated device), so canonicalJson is what is checked here.
 */
const PWA_PROTOCOL = fileURLToPath(new URL('../web/authenticator/protocol.ts', import.meta.url));

/** web/authenticator/protocol.ts as one ES module, built as `vite build` would (not a copy of its code). */
async function bundlePwaProtocol(): Promise<string> {
  const out = await build({
    configFile: false,
    logLevel: 'silent',
    publicDir: false,
    // Nothing is written (write: false); emptyOutDir: false keeps dist/ (tsc's output) safe anyway.
    build: { write: false, emptyOutDir: false, minify: false, lib: { entry: PWA_PROTOCOL, formats: ['es'], fileName: 'protocol' } },
  });
  const outputs = (Array.isArray(out) ? out : [out]) as Rolldown.RolldownOutput[];
  const chunk = outputs.flatMap((o) => o.output).find((c): c is Rolldown.OutputChunk => c.type === 'chunk' && c.isEntry);
  if (!chunk) throw new Error('Vite produced no entry chunk for web/authenticator/protocol.ts');
  return chunk.code;
}

/** What the page exposes once its module script has imported the bundle (no DOM library here). */
type PageGlobal = { twofoldProtocol?: { canonicalJson(v: unknown): string } };

describe('canonical JSON in Chromium', () => {
  let server: Server;
  let origin: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    const bundle = await bundlePwaProtocol();
    // A real http://127.0.0.1 origin (a secure context, as the PWA gets) serving the bundle.
    server = createServer((req, res) => {
      if (req.url === '/protocol.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
      } else if (req.url === '/') {
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end(`<!doctype html><meta charset="utf-8"><title>protocol</title><script type="module">import * as m from '/protocol.js'; window.twofoldProtocol = m;</script>`);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    page = watchPage(await browser.newPage(), problems);
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => typeof (globalThis as PageGlobal).twofoldProtocol?.canonicalJson === 'function');
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it.each(CANONICAL_VECTORS.map(([v, out], i) => [i, v, out] as const))(
    'when the PWA canonicalises vector %i in Chromium then it gives the service\'s known answer (an approval would otherwise be refused)',
    async (_i, v, out) => {
      const [received, canonical] = await page.evaluate((value) => [JSON.stringify(value), (globalThis as PageGlobal).twofoldProtocol!.canonicalJson(value)] as const, v);
      // The page got the vector as written (key order included), so the PWA's sort did the work.
      expect(received).toBe(JSON.stringify(v));
      expect(canonical).toBe(out);
      expect(canonicalJson(v)).toBe(out);
      expect(problems).toEqual([]);
    },
  );
});
