/**
 * Passkeys (WebAuthn) in the browser: whether they can work on this page, the two ceremonies run
 * with the options the server made, and what to say when one does not finish.
 */
import {
  type AuthenticationResponseJSON,
  browserSupportsWebAuthn,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  startAuthentication,
  startRegistration,
  WebAuthnAbortService,
} from '@simplewebauthn/browser';
import { api } from './api.js';
import { failureOf, setAlert } from './ui.js';

/** An IPv4 or IPv6 address (WebAuthn refuses them as the site's name). */
export const isIpAddress = (host: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');

/** Whether this browser has WebAuthn and this page is open at a name (not an IP address). */
export const passkeysWorkHere = (): boolean => browserSupportsWebAuthn() && !isIpAddress(location.hostname);

/** Stop the passkey request the browser is waiting on, if any (leaving a page, say). */
export const cancelPasskeyRequest = (): void => WebAuthnAbortService.cancelCeremony();

/**
 * A passkey request the browser did not finish. `cancelled`: the person closed the prompt or let
 * it time out (said softly, they may just try again); `aborted`: the page stopped it (nothing to
 * say); `failed`: the device could not do it.
 */
export class CeremonyFailed extends Error {
  constructor(
    message: string,
    readonly kind: 'cancelled' | 'aborted' | 'failed',
  ) {
    super(message);
  }
}

export const CANCELLED_TEXT = 'Passkey request cancelled or timed out. You can try again.';

function ceremonyFailure(err: unknown): CeremonyFailed {
  const e = err as { name?: string; code?: string };
  if (e?.name === 'AbortError' || e?.code === 'ERROR_CEREMONY_ABORTED') return new CeremonyFailed('', 'aborted');
  if (e?.name === 'NotAllowedError') return new CeremonyFailed(CANCELLED_TEXT, 'cancelled');
  if (e?.name === 'InvalidStateError') return new CeremonyFailed('This device or password manager already holds a passkey for your account. It is in the list.', 'failed');
  if (e?.name === 'SecurityError') return new CeremonyFailed('Passkeys do not work at this address. Open the site by its name, not by an IP address.', 'failed');
  if (e?.name === 'NotSupportedError' || e?.name === 'ConstraintError') {
    return new CeremonyFailed('This device cannot make a passkey this site accepts. Try another device or password manager.', 'failed');
  }
  return new CeremonyFailed('The passkey did not work. Try again, or use another way in.', 'failed');
}

/**
 * Sign with a passkey: fresh options from `optionsPath` (each request gets its own challenge),
 * then the browser's prompt, or its autofill list with `autofill`. `wanted` is asked once the
 * options are here: false stops before the browser is asked (a newer request took over).
 */
export async function signWithPasskey(optionsPath: string, o: { autofill?: boolean; wanted?: () => boolean } = {}): Promise<AuthenticationResponseJSON> {
  const { options } = await api<{ options: PublicKeyCredentialRequestOptionsJSON }>('POST', optionsPath, {});
  if (o.wanted && !o.wanted()) throw new CeremonyFailed('', 'aborted');
  try {
    return await startAuthentication({ optionsJSON: options, useBrowserAutofill: o.autofill ?? false });
  } catch (err) {
    throw ceremonyFailure(err);
  }
}

/** Make a passkey with the options the server made for this account. */
export async function makePasskey(options: PublicKeyCredentialCreationOptionsJSON): Promise<RegistrationResponseJSON> {
  try {
    return await startRegistration({ optionsJSON: options });
  } catch (err) {
    throw ceremonyFailure(err);
  }
}

/**
 * Say in `alert` why a passkey attempt did not go through: the server's message, or the
 * browser's reason (a cancelled prompt softly, as information; a stopped one not at all).
 */
export function sayPasskeyFailure(alert: HTMLElement, err: unknown, fallback = 'The passkey did not work. Try again.'): void {
  if (err instanceof CeremonyFailed) {
    if (err.kind !== 'aborted') setAlert(alert, err.message, err.kind === 'cancelled' ? 'info' : 'error');
    return;
  }
  setAlert(alert, failureOf(err)?.message ?? fallback);
}
