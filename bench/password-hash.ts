/**
 * Password hashing cost with the web app's own parameters (src/app/passwords.ts: argon2id,
 * m=19456 KiB, t=2, p=1): the time a signup spends hashing and a login spends verifying.
 *
 *   npx tsx bench/password-hash.ts
 *
 * Bounded: BENCH_HASHES hashes and as many verifications (default 30), one at a time, after one
 * warm-up of each. Prints p50/p95/max in milliseconds.
 */
import { percentiles } from './lib.js';
import { hashPassword, verifyPassword } from '../src/app/passwords.js';

const N = Number(process.env['BENCH_HASHES'] ?? 30);

async function main(): Promise<void> {
  const password = 'correct horse battery staple';
  const warm = await hashPassword(password);
  if (!(await verifyPassword(warm, password))) throw new Error('verify of a fresh hash failed');

  const hashes: string[] = [];
  const hashMs: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    hashes.push(await hashPassword(`${password} ${i}`));
    hashMs.push(performance.now() - t0);
  }
  const verifyMs: number[] = [];
  let accepted = 0;
  for (let i = 0; i < N; i++) {
    // Alternate right and wrong passwords: both cost the same full computation.
    const t0 = performance.now();
    if (await verifyPassword(hashes[i]!, i % 2 === 0 ? `${password} ${i}` : 'wrong password')) accepted++;
    verifyMs.push(performance.now() - t0);
  }
  if (accepted !== Math.ceil(N / 2)) throw new Error(`expected ${Math.ceil(N / 2)} accepted, got ${accepted}`);
  console.log(`argon2id ${hashes[0]!.split('$')[3]} (src/app/passwords.ts), ${N} of each, sequential`);
  console.log(`  hash     ${percentiles(hashMs, [0.5, 0.95])} ms`);
  console.log(`  verify   ${percentiles(verifyMs, [0.5, 0.95])} ms`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
