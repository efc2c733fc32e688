import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build, type Rolldown } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalSigningString, canonicalJson, requestSigningString } from '../src/protocol/device.js';
import { detailsHash } from '../src/protocol/node-hash.js';
import { SseParser } from '../src/protocol/sse.js';
import { APPROVAL_SIGNING_VECTORS, CANONICAL_VECTORS, DETAILS_HASH_VECTORS, REQUEST_SIGNING_VECTORS, SSE_VECTORS } from '../test/vectors/device-protocol.js';
import { launchChromium, watchPage } from './helpers.js';

/**
 * The PWA signs what the service verifies: SHA-256 of the canonical JSON of `{ message, details }`
 * and the signing strings. Both sides use src/protocol/, and Node runs its known answers
 * (test/authenticator/protocol.test.ts); this runs the PWA's real module, web/authenticator/
 * protocol.ts bundled by Vite, in Chromium, whose engine is the one that matters in the browser
 * (string comparison, Array.from on surrogate pairs, key order, JSON.stringify escaping, WebCrypto,
 * TextDecoder chunks in the event stream parser).
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
type SigningInput<F> = F extends (o: infer O) => string ? O : never;
type PageGlobal = {
  twofoldProtocol?: {
    canonicalJson(v: unknown): string;
    detailsHash(message: string, details: Record<string, string>): Promise<string>;
    requestSigningString(o: SigningInput<typeof requestSigningString>): string;
    approvalSigningString(o: SigningInput<typeof approvalSigningString>): string;
    SseParser: new () => SseParser;
  };
};

describe('the device protocol in Chromium', () => {
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

  it.each(DETAILS_HASH_VECTORS.map((v, i) => [i, ...v] as const))('when the PWA hashes details vector %i with WebCrypto in Chromium then it gives the service\'s known answer', async (_i, message, details, hash) => {
    expect(await page.evaluate(([m, d]) => (globalThis as PageGlobal).twofoldProtocol!.detailsHash(m, d), [message, details] as const)).toBe(hash);
    expect(detailsHash(message, details)).toBe(hash);
  });

  it('when the PWA builds signing strings in Chromium then they are the known answers byte for byte', async () => {
    for (const [o, out] of REQUEST_SIGNING_VECTORS) expect(await page.evaluate((x) => (globalThis as PageGlobal).twofoldProtocol!.requestSigningString(x), o)).toBe(out);
    for (const [o, out] of APPROVAL_SIGNING_VECTORS) expect(await page.evaluate((x) => (globalThis as PageGlobal).twofoldProtocol!.approvalSigningString(x), o)).toBe(out);
  });

  it.each(SSE_VECTORS.map((v, i) => [i, v] as const))('when event stream vector %i reaches the PWA\'s parser in Chromium, in its chunks or a character at a time, then it gives the known events', async (_i, v) => {
    const got = await page.evaluate((chunks) => {
      const runs = [chunks, Array.from(chunks.join(''))];
      return runs.map((cs) => {
        const p = new (globalThis as PageGlobal).twofoldProtocol!.SseParser();
        const events = cs.flatMap((c) => p.push(c));
        return { events: JSON.parse(JSON.stringify(events)) as unknown, lastEventId: p.lastEventId ?? null };
      });
    }, v.chunks);
    const expected = { events: JSON.parse(JSON.stringify(v.events)) as unknown, lastEventId: v.lastEventId ?? null };
    expect(got).toEqual([expected, expected]);
    expect(problems).toEqual([]);
  });
});
