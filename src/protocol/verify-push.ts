/**
 * The byte-exact strings of Verify v2 push factors (docs/verify-v2.md "Push factors"): the
 * service verifies them, the CLI authenticator and the PWA sign them. Requests themselves are signed as the
 * device API signs them (`requestSigningString` of ./device.ts, the factor SID in the device
 * header); these are the two proofs a push factor adds. Plain TypeScript, no platform import.
 */
import { canonicalJson } from './device.js';

/** What the factor key signs to verify its factor (Verify's `AuthPayload` on the factor update). */
export function pushFactorProofString(o: { serviceSid: string; identity: string; factorSid: string }): string {
  return ['twofold-verify-push-factor-v1', o.serviceSid, o.identity, o.factorSid].join('\n');
}

export type PushDecision = 'approved' | 'denied';

/** What the factor key signs to answer a challenge (`AuthPayload` with `Status` on the challenge update). */
export function pushChallengeSigningString(o: { challengeSid: string; factorSid: string; status: PushDecision; detailsHash: string }): string {
  return ['twofold-verify-push-challenge-v1', o.challengeSid, o.factorSid, o.status, o.detailsHash].join('\n');
}

/** A challenge's details as the device shows them: its message and its fields, in order. */
export interface PushDetails {
  message: string | null;
  fields: { label: string; value: string }[];
}

/** What the details hash (hex SHA-256) is taken over: the canonical JSON of `{ message, fields }`. */
export function pushDetailsPayload(d: PushDetails): string {
  return canonicalJson({ message: d.message, fields: d.fields.map((f) => ({ label: f.label, value: f.value })) });
}
