/**
 * The web app's typed client for the verification service: the Authy-compatible API
 * (`/protected/json`, `/onetouch/json`) and the app side of the device API (`/v1/users`).
 * Every failure becomes a {@link VerifyServiceError}; nothing here logs.
 */
import http from 'node:http';
import https from 'node:https';

/** The service's error codes the web app tells apart (Authy's numbers, and Twofold's device API's). */
export const ServiceCode = {
  TOKEN_REUSED: '60019',
  TOKEN_INVALID: '60020',
  CODE_INCORRECT: '60022',
  CODE_EXPIRED: '60023',
  TOO_MANY_DEVICES: 'TOO_MANY_DEVICES',
} as const;

export class VerifyServiceError extends Error {
  override name = 'VerifyServiceError';
  constructor(
    /** HTTP status of the answer, 0 when the service could not be reached. */
    readonly status: number,
    /** Authy `error_code` ("60050") or device-API `code` ("NOT_FOUND"); "UNREACHABLE" on network errors. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** The service's Retry-After (seconds) on a 429 or 503, when it sent one. */
  readonly retryAfterSeconds: number | undefined;
}

export interface ApprovalRequestInput {
  message: string;
  details: Record<string, string>;
  hiddenDetails: Record<string, string>;
  secondsToExpire: number;
  numberMatching: boolean;
}

export interface ApprovalStatus {
  uuid: string;
  status: 'pending' | 'approved' | 'denied' | 'expired';
}

export interface Activation {
  token: string;
  link: string;
  qrCode: string;
  expiresAt: number;
}

export interface DeviceInfo {
  id: string;
  name: string;
  createdAt: number;
  lastSeenAt: number | null;
  revokedAt: number | null;
}

export interface SmsResult {
  /** True when the service chose not to send (an authenticator is enrolled and force was false). */
  ignored: boolean;
  /** Masked phone number as the service shows it. */
  cellphone: string | null;
}

export interface TokenCheck {
  /** Which factor the service says it matched, when it tells ('totp' | 'sms'). */
  kind: 'totp' | 'sms' | null;
  /** Twofold extension: 'authenticator', 'totp_app', 'legacy' or 'sms' (null from another service). */
  factor: string | null;
  /** Twofold extension: true when this code confirmed a newly created third-party app secret. */
  enrolled: boolean;
}

/** A third-party TOTP app enrolment of a user (Twofold extension; never the secret). */
export interface TotpAppInfo {
  id: string;
  label: string | null;
  state: 'active' | 'pending';
  createdAt: number;
  confirmedAt: number | null;
  lastUsedAt: number | null;
  /** The one secret users had before every authenticator got its own. */
  legacy: boolean;
}

export interface PhoneTarget {
  /** National number, digits only. */
  cellphone: string;
  /** Dialling code without "+". */
  countryCode: string;
}

/**
 * How the client reaches the service when not over HTTP: the service of the same process hands
 * each request to its operations directly (`src/verify/api.ts`), and answers as HTTP would.
 */
export interface ServiceTransport {
  exchange(method: 'GET' | 'POST' | 'DELETE', pathAndQuery: string, json: Record<string, unknown> | undefined, apiKey: string): Promise<{ status: number; body: unknown; retryAfter: string | undefined }>;
}

export interface AuthyClientOptions {
  baseUrl: () => string;
  apiKey: string;
  /** The in-process binding; without it, HTTP to `baseUrl`. */
  transport?: ServiceTransport | undefined;
  /** Per-request timeout in milliseconds (default 10 000). */
  timeoutMs?: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : null);

export class AuthyClient {
  // node:http with kept-alive connections rather than fetch: every login and every code check
  // calls the service, and fetch spends about twice the CPU per call (measured by bench/, README
  // "Performance"). Redirects are not followed: the API key must never go to another address.
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  constructor(private readonly o: AuthyClientOptions) {}

  /** Close the kept-alive connections (on shutdown). */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** POST /protected/json/users/new → the user's authy id (the same phone and email again → the same id). */
  async registerUser(u: { email: string; cellphone: string; countryCode: string }): Promise<number> {
    const body = await this.call('POST', '/protected/json/users/new', {
      user: { email: u.email, cellphone: u.cellphone, country_code: u.countryCode },
    });
    const id = isObject(body.user) ? num(body.user.id) : null;
    if (id === null) throw this.malformed('users/new');
    return id;
  }

  /** GET /protected/json/sms/{id}; `force` sends even when the user has an authenticator. */
  async requestSms(authyId: number, force: boolean, userIp?: string): Promise<SmsResult> {
    // `user_ip` lets the service count SMS per end user's IP instead of per app server.
    const q = new URLSearchParams({ ...(force ? { force: 'true' } : {}), ...(userIp ? { user_ip: userIp } : {}) }).toString();
    const body = await this.call('GET', `/protected/json/sms/${authyId}${q ? `?${q}` : ''}`);
    return { ignored: body.ignored === true || body.ignored === 'true', cellphone: str(body.cellphone) };
  }

  /**
   * GET /protected/json/verify/{token}/{id}. Resolves when the code is valid; an invalid code
   * rejects with code "60020", a reused one with "60019". With `pending`, a code of a new
   * third-party app secret counts too, and confirms it (only where the user confirms that app).
   */
  async verifyToken(authyId: number, token: string, o: { pending: boolean } = { pending: false }): Promise<TokenCheck> {
    if (!/^\d{6,10}$/.test(token)) throw new VerifyServiceError(401, ServiceCode.TOKEN_INVALID, 'Token is invalid');
    // `pending=false` (Twofold extension): a third-party app secret counts only once confirmed.
    const body = await this.call('GET', `/protected/json/verify/${token}/${authyId}${o.pending ? '' : '?pending=false'}`);
    if (body.token !== 'is valid') throw this.malformed('verify');
    const device = isObject(body.device) ? body.device : undefined;
    const via = str(body.via) ?? str(body.kind) ?? str(device?.kind);
    return {
      kind: via === 'sms' ? 'sms' : via === 'totp' || via === 'authenticator' ? 'totp' : null,
      factor: str(device?.factor),
      enrolled: device?.enrolled === true,
    };
  }

  /** POST /protected/json/phones/verification/start: a code of `codeLength` digits by SMS. */
  async startPhoneVerification(phone: PhoneTarget, codeLength: number, userIp?: string): Promise<void> {
    await this.call('POST', '/protected/json/phones/verification/start', {
      via: 'sms',
      phone_number: phone.cellphone,
      country_code: phone.countryCode,
      code_length: codeLength,
      ...(userIp ? { user_ip: userIp } : {}),
    });
  }

  /**
   * GET /protected/json/phones/verification/check. Resolves when the code is right; a wrong code
   * rejects with "60022", none pending (expired, used, or out of tries) with "60023".
   */
  async checkPhoneVerification(phone: PhoneTarget, code: string): Promise<void> {
    if (!/^\d{4,10}$/.test(code)) throw new VerifyServiceError(401, ServiceCode.CODE_INCORRECT, 'Verification code is incorrect');
    const q = new URLSearchParams({ phone_number: phone.cellphone, country_code: phone.countryCode, verification_code: code }).toString();
    await this.call('GET', `/protected/json/phones/verification/check?${q}`);
  }

  /** POST /onetouch/json/users/{id}/approval_requests → uuid and, with number matching, the number. */
  async createApprovalRequest(authyId: number, r: ApprovalRequestInput): Promise<{ uuid: string; number: string | null }> {
    const body = await this.call('POST', `/onetouch/json/users/${authyId}/approval_requests`, {
      message: r.message,
      details: r.details,
      hidden_details: r.hiddenDetails,
      seconds_to_expire: r.secondsToExpire,
      number_matching: r.numberMatching,
    });
    const ar = isObject(body.approval_request) ? body.approval_request : undefined;
    const uuid = str(ar?.uuid);
    if (!uuid) throw this.malformed('approval_requests');
    const n = str(body.number) ?? str(ar?.number);
    return { uuid, number: n };
  }

  /** GET /onetouch/json/approval_requests/{uuid}. */
  async approvalStatus(uuid: string): Promise<ApprovalStatus> {
    const body = await this.call('GET', `/onetouch/json/approval_requests/${encodeURIComponent(uuid)}`);
    const ar = isObject(body.approval_request) ? body.approval_request : undefined;
    const status = str(ar?.status);
    if (status !== 'pending' && status !== 'approved' && status !== 'denied' && status !== 'expired') throw this.malformed('approval status');
    return { uuid, status };
  }

  /** POST /v1/users/{id}/activations → a single-use activation link and its QR code. */
  async createActivation(authyId: number, name?: string): Promise<Activation> {
    const body = await this.call('POST', `/v1/users/${authyId}/activations`, name ? { name } : {});
    const a = isObject(body.activation) ? body.activation : undefined;
    const link = str(a?.link);
    const qr = str(a?.qr_code);
    if (!a || !link || !qr) throw this.malformed('activations');
    return { token: str(a.token) ?? '', link, qrCode: qr, expiresAt: num(a.expires_at) ?? 0 };
  }

  /** GET /v1/users/{id}/devices. */
  async listDevices(authyId: number): Promise<DeviceInfo[]> {
    const body = await this.call('GET', `/v1/users/${authyId}/devices`);
    if (!Array.isArray(body.devices)) throw this.malformed('devices');
    return body.devices.filter(isObject).map((d) => ({
      id: str(d.id) ?? '',
      name: str(d.name) ?? '',
      createdAt: num(d.created_at) ?? 0,
      lastSeenAt: num(d.last_seen_at),
      revokedAt: num(d.revoked_at),
    }));
  }

  /** DELETE /v1/users/{id}/devices/{deviceId}. */
  async revokeDevice(authyId: number, deviceId: string): Promise<void> {
    await this.call('DELETE', `/v1/users/${authyId}/devices/${encodeURIComponent(deviceId)}`);
  }

  /**
   * POST /protected/json/users/{id}/secret → a new third-party app secret's `otpauth://` URI and
   * QR code (shown once). It counts once a first code from it verifies; that replaces the older one.
   */
  async createTotpSecret(authyId: number, label: string): Promise<{ id: string | null; uri: string; qrCode: string }> {
    const body = await this.call('POST', `/protected/json/users/${authyId}/secret`, { label, qr_size: 300 });
    const qr = str(body.qr_code);
    const uri = Object.values(body).find((v): v is string => typeof v === 'string' && v.startsWith('otpauth://'));
    if (!qr || !uri) throw this.malformed('secret');
    return { id: str(body.id), uri, qrCode: qr };
  }

  /** GET /v1/users/{id}/totp-apps (Twofold extension). */
  async listTotpApps(authyId: number): Promise<TotpAppInfo[]> {
    const body = await this.call('GET', `/v1/users/${authyId}/totp-apps`);
    if (!Array.isArray(body.totp_apps)) throw this.malformed('totp-apps');
    return body.totp_apps.filter(isObject).map((t) => ({
      id: str(t.id) ?? '',
      label: str(t.label),
      state: t.state === 'pending' ? 'pending' : 'active',
      createdAt: num(t.created_at) ?? 0,
      confirmedAt: num(t.confirmed_at),
      lastUsedAt: num(t.last_used_at),
      legacy: t.legacy === true,
    }));
  }

  /** GET /v1/users/{id}/lockouts (Twofold extension): the second-factor lockouts the service recorded, newest first. */
  async listLockouts(authyId: number): Promise<{ id: number; at: number }[]> {
    const body = await this.call('GET', `/v1/users/${authyId}/lockouts`);
    if (!Array.isArray(body.lockouts)) throw this.malformed('lockouts');
    return body.lockouts.filter(isObject).map((l) => ({ id: num(l.id) ?? 0, at: num(l.at) ?? 0 }));
  }

  /** POST /protected/json/users/{id}/phone (Twofold extension): the user's phone changes, its factors stay. */
  async changePhone(authyId: number, phone: PhoneTarget): Promise<void> {
    await this.call('POST', `/protected/json/users/${authyId}/phone`, { cellphone: phone.cellphone, country_code: phone.countryCode });
  }

  /** DELETE /v1/users/{id}/totp-apps/{secretId} (Twofold extension): its codes fail from now on. */
  async removeTotpApp(authyId: number, secretId: string): Promise<void> {
    await this.call('DELETE', `/v1/users/${authyId}/totp-apps/${encodeURIComponent(secretId)}`);
  }

  /** One exchange; rejects on network errors and when the whole of it takes over the timeout. */
  private send(method: string, url: URL, body: string | undefined): Promise<{ status: number; text: string; retryAfter: string | undefined }> {
    const headers: Record<string, string | number> = { 'X-Authy-API-Key': this.o.apiKey, accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, { method, headers, agent: secure ? this.agents.https : this.agents.http }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        const retryAfter = res.headers['retry-after'];
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined }));
        res.on('error', reject);
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.o.timeoutMs ?? 10_000} ms`)), this.o.timeoutMs ?? 10_000);
      req.on('error', reject);
      req.on('close', () => clearTimeout(timer));
      req.end(body);
    });
  }

  private malformed(what: string): VerifyServiceError {
    return new VerifyServiceError(502, 'MALFORMED_ANSWER', `Unexpected answer from the verification service (${what})`);
  }

  /** One exchange over HTTP: the answer's status, parsed body (undefined when not JSON) and Retry-After. */
  private async overHttp(method: 'GET' | 'POST' | 'DELETE', path: string, json?: Json): Promise<{ status: number; body: unknown; retryAfter: string | undefined }> {
    const url = `${this.o.baseUrl().replace(/\/+$/, '')}${path}`;
    let res: { status: number; text: string; retryAfter: string | undefined };
    try {
      res = await this.send(method, new URL(url), json === undefined ? undefined : JSON.stringify(json));
    } catch (cause) {
      throw new VerifyServiceError(0, 'UNREACHABLE', 'The verification service could not be reached', { cause });
    }
    let body: unknown;
    try {
      body = res.text ? JSON.parse(res.text) : {};
    } catch {
      body = undefined;
    }
    return { status: res.status, body, retryAfter: res.retryAfter };
  }

  private async call(method: 'GET' | 'POST' | 'DELETE', path: string, json?: Json): Promise<Json> {
    const transport = this.o.transport;
    const res = transport ? await transport.exchange(method, path, json, this.o.apiKey) : await this.overHttp(method, path, json);
    const body = res.body;
    if (!isObject(body)) throw new VerifyServiceError(res.status >= 400 ? res.status : 502, 'MALFORMED_ANSWER', `Non-JSON answer from the verification service (${res.status})`);
    const failed = res.status >= 400 || body.success === false;
    if (failed) {
      const code = str(body.error_code) ?? str(body.code) ?? `HTTP_${res.status}`;
      const message = str(body.message) ?? (isObject(body.errors) ? str(body.errors.message) : null) ?? 'Request failed';
      const retryAfterSeconds = res.retryAfter !== undefined && /^\d{1,6}$/.test(res.retryAfter) ? Number(res.retryAfter) : undefined;
      throw new VerifyServiceError(res.status >= 400 ? res.status : 400, code, message, retryAfterSeconds === undefined ? undefined : { retryAfterSeconds });
    }
    return body;
  }
}
