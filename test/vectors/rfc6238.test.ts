import { describe, expect, it } from 'vitest';
import { generateTotp, matchTotpStep, timeStepAt, type TotpAlgorithm } from '../../src/verify/core/totp.js';

// RFC 6238 Appendix B: each algorithm with its own seed, "12345678901234567890" repeated to the
// hash's output length (20, 32, 64 bytes), period 30 s, 8 digits.
const seed = (bytes: number) => new TextEncoder().encode('12345678901234567890'.repeat(4).slice(0, bytes));
const SEEDS: Record<TotpAlgorithm, Uint8Array> = { SHA1: seed(20), SHA256: seed(32), SHA512: seed(64) };

const TABLE: { t: number; step: string; SHA1: string; SHA256: string; SHA512: string }[] = [
  { t: 59, step: '0000000000000001', SHA1: '94287082', SHA256: '46119246', SHA512: '90693936' },
  { t: 1111111109, step: '00000000023523EC', SHA1: '07081804', SHA256: '68084774', SHA512: '25091201' },
  { t: 1111111111, step: '00000000023523ED', SHA1: '14050471', SHA256: '67062674', SHA512: '99943326' },
  { t: 1234567890, step: '000000000273EF07', SHA1: '89005924', SHA256: '91819424', SHA512: '93441116' },
  { t: 2000000000, step: '0000000003F940AA', SHA1: '69279037', SHA256: '90698825', SHA512: '38618901' },
  { t: 20000000000, step: '0000000027BC86AA', SHA1: '65353130', SHA256: '77737706', SHA512: '47863826' },
];

describe('RFC 6238 appendix B', () => {
  const rows = TABLE.flatMap((r) => (['SHA1', 'SHA256', 'SHA512'] as const).map((alg) => ({ ...r, alg, code: r[alg] })));
  it.each(rows)('when T=$t with $alg then the code is $code', ({ t, alg, code, step }) => {
    expect(timeStepAt(t * 1000, 30)).toBe(parseInt(step, 16));
    expect(generateTotp(SEEDS[alg], t * 1000, { digits: 8, periodInSeconds: 30, algorithm: alg })).toBe(code);
    // The verification path finds the same step.
    expect(matchTotpStep(SEEDS[alg], code, t * 1000, { digits: 8, periodInSeconds: 30, algorithm: alg, window: 1 })).toBe(parseInt(step, 16));
  });

  it('when a code is two steps away then it does not match within ±1 step', () => {
    const code = generateTotp(SEEDS.SHA1, 1111111109 * 1000, { digits: 6 });
    expect(matchTotpStep(SEEDS.SHA1, code, (1111111109 + 60) * 1000, { digits: 6, window: 1 })).toBeNull();
    expect(matchTotpStep(SEEDS.SHA1, code, (1111111109 + 30) * 1000, { digits: 6, window: 1 })).not.toBeNull();
  });
});
