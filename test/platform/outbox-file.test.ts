import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxFile } from '../../src/platform/outbox-file.js';

// The dev outbox keeps its file open while messages come: lines must stay whole and in order, the
// file owner-only, and a file removed meanwhile must come back once the outbox has been idle.

describe('outbox file', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 'twofold-outbox-'));
    dirs.push(d);
    return join(d, 'outbox.jsonl');
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('when 500 messages are appended at once then the file holds 500 whole lines in the order they were sent, owner-only', async () => {
    const file = fresh();
    const box = new OutboxFile<{ to: string; n: number; pad: string }>(file, 50);
    await Promise.all(Array.from({ length: 500 }, (_, n) => box.append({ to: `+1555000${n}`, n, pad: 'x'.repeat(n % 7 === 0 ? 5000 : 10) })));
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(Array.from({ length: 500 }, (_, n) => n));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await box.list({ limit: 3 })).map((m) => m.n)).toEqual([499, 498, 497]);
  });

  it('when the file is removed while the outbox is idle then the next message creates it again', async () => {
    const file = fresh();
    const box = new OutboxFile<{ to: string; n: number }>(file, 30);
    await box.append({ to: 'a', n: 1 });
    await new Promise((r) => setTimeout(r, 100));
    rmSync(file);
    await box.append({ to: 'b', n: 2 });
    expect((await box.list()).map((m) => m.n)).toEqual([2]);
  });
});
