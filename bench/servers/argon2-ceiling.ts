/**
 * The ceiling of password logins: the raw argon2id verify rate of the library and parameters
 * the web app uses (`verifyPassword` of src/app/passwords.ts: @node-rs/argon2, m=19456 KiB, t=2,
 * p=1), in a process of its own like the server's, with as many verifications in flight as the
 * login bench has connections. Nothing else runs in it: no HTTP, no database.
 *
 * Command: measure { seconds, concurrency } → { perSecond, count, seconds, cpuMsPerVerify }
 */
import { hashPassword, verifyPassword } from '../../src/app/passwords.js';
import { serveChild } from '../lib.js';

const password = 'correct horse battery staple';
const hash = await hashPassword(password);

serveChild(
  'argon2:',
  {
    async measure(args) {
      const { seconds, concurrency } = args as { seconds: number; concurrency: number };
      // Warm-up: one round of the pool.
      await Promise.all(Array.from({ length: concurrency }, () => verifyPassword(hash, password)));
      let count = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const end = t0 + seconds * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < end) {
            if (!(await verifyPassword(hash, password))) throw new Error('verify failed');
            count++;
          }
        }),
      );
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      return { perSecond: count / elapsed, count, seconds: elapsed, cpuMsPerVerify: (cpu.user + cpu.system) / 1000 / count };
    },
  },
  async () => {},
);
