import { describe, expect, it } from 'vitest';
import { retryWhileUnavailable } from '../../src/platform/db.js';

const unavailable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('retryWhileUnavailable (work done after the answer, e.g. a signup link)', () => {
  it('when the database is away for two tries then the work runs again and its result is returned', async () => {
    let calls = 0;
    const result = await retryWhileUnavailable(async () => {
      calls++;
      if (calls <= 2) throw unavailable();
      return 'sent';
    }, [1, 1, 1]);
    expect(result).toBe('sent');
    expect(calls).toBe(3);
  });

  it('when the error is not the database being away then it is thrown at once, not repeated', async () => {
    let calls = 0;
    const bug = new TypeError('undefined is not a function');
    await expect(
      retryWhileUnavailable(async () => {
        calls++;
        throw bug;
      }, [1, 1, 1]),
    ).rejects.toBe(bug);
    expect(calls).toBe(1);
  });

  it('when the database stays away past the last wait then the last failure is thrown', async () => {
    let calls = 0;
    await expect(
      retryWhileUnavailable(async () => {
        calls++;
        throw unavailable();
      }, [1, 1]),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(calls).toBe(3);
  });

  it('when a PostgreSQL connection ends mid-query (no code, only a message) then it is retried', async () => {
    let calls = 0;
    const r = await retryWhileUnavailable(async () => {
      if (calls++ === 0) throw new Error('Connection terminated unexpectedly');
      return calls;
    }, [1]);
    expect(r).toBe(2);
  });
});
