/**
 * Metric 5, waiting browsers: how many status streams (`GET /authy/status`, SSE, one socket
 * each, as many browser tabs waiting for a push approval) one app instance holds, and its
 * resident memory (RSS, from /proc) with 1,000 and with 10,000 open. Each stream belongs to a
 * login of its own (a half session whose attempt waits for an approval), prepared beforehand.
 * A stream counts as held when it has told its browser "pending" and is still open
 * HOLD_SECONDS later. Also reported: the RSS of the fresh server (idle) and once the 10,000
 * logins are in its database (0 streams).
 */
import { openStatusStream, pool, sleep, startChild, suite, type StatusStream } from './lib.js';

const TARGET = Number(process.env['BENCH_STREAMS'] ?? 10_000);
const FIRST = 1000;
const OPEN_CONCURRENCY = 64;
const HOLD_SECONDS = 2;
const MB = 1024 * 1024;

await suite('waiting-browsers', async () => {
  const s = await startChild('servers/twofold.ts');
  const streams: StatusStream[] = [];
  let ended = 0;
  try {
    await sleep(1000);
    const rssIdle = s.rss() / MB;
    const cookies = await s.call<string[]>('seedWaitingLogins', { count: TARGET });
    await sleep(1000);
    const rss0 = s.rss() / MB;
    const open = async (from: number, to: number) => {
      await pool(cookies.slice(from, to), OPEN_CONCURRENCY, async (cookie) => {
        const st = openStatusStream(s.url, cookie);
        st.approved.catch(() => ended++);
        streams.push(st);
        await st.opened;
      });
    };
    await open(0, FIRST);
    await sleep(1000);
    const rss1000 = s.rss() / MB;
    await open(FIRST, TARGET);
    await sleep(HOLD_SECONDS * 1000);
    const rss10000 = s.rss() / MB;
    const held = streams.length - ended;
    return [
      { name: 'waiting_browsers_held', unit: 'streams', value: held },
      { name: 'waiting_browsers_rss_idle', unit: 'MB', value: rssIdle },
      { name: 'waiting_browsers_rss_0', unit: 'MB', value: rss0 },
      { name: 'waiting_browsers_rss_1000', unit: 'MB', value: rss1000 },
      { name: `waiting_browsers_rss_${TARGET}`, unit: 'MB', value: rss10000 },
    ];
  } finally {
    for (const st of streams) st.close();
    await s.stop();
  }
});
