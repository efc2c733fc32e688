import { createECDH, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as z from 'zod';

/** Phone number types `SMS_NUMBER_TYPES` may name (libphonenumber-js's `NumberType`, and one of ours). */
export const SMS_NUMBER_TYPE_NAMES = [
  'MOBILE',
  'FIXED_LINE_OR_MOBILE',
  'FIXED_LINE',
  'VOIP',
  'PERSONAL_NUMBER',
  'PAGER',
  'UAN',
  'VOICEMAIL',
  'TOLL_FREE',
  'SHARED_COST',
  'PREMIUM_RATE',
  'UNKNOWN',
  'NON_GEOGRAPHIC',
] as const;

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

const optionalUrl = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(z.url().optional())
  .optional();

const base64Key = z
  .string()
  .trim()
  .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
  .optional();

const base64urlBytes = (bytes: number, what: string) =>
  z
    .string()
    .trim()
    .refine((v) => /^[A-Za-z0-9_-]+=*$/.test(v) && Buffer.from(v, 'base64url').length === bytes, `must be ${what}, base64url-encoded`)
    .optional();

/** Every environment variable Twofold reads. Names are a contract: each is documented in README.md. */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(3000, 0, 65535),
  /** Listen address; unset: loopback while an outbox (SMS or mail) is served, else every interface. */
  HOST: z.string().min(1).optional(),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.string().regex(/^(postgres(ql)?:\/\/|sqlite:.)/, 'must be a postgres:// URL, or sqlite:<file>').optional())
    .optional(),
  /** Connections each instance keeps to PostgreSQL (instances × this must stay under max_connections). */
  DATABASE_POOL_SIZE: int(10, 1, 1000),
  REDIS_URL: z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL').optional())
    .optional(),
  /** Namespace of Twofold's keys and channel in Redis (several deployments may share one Redis). */
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{1,40}$/, 'must be 1-40 of A-Z a-z 0-9 _ . : -').default('twofold'),
  PUBLIC_URL: optionalUrl,
  VERIFY_URL: optionalUrl,
  /**
   * How the web app reaches a service in its own process (`serve` without `--only`): by calling
   * it directly (`in-process`), or over loopback HTTP as a split deployment does (`http`).
   */
  SERVICE_BINDING: z.enum(['in-process', 'http']).default('in-process'),
  /**
   * The web app's externally visible origin, where the built-in app's OneTouch callback goes
   * (`<APP_URL>/authy/callback`). Only needed when the service runs apart (`serve --only verify`);
   * default: PUBLIC_URL.
   */
  APP_URL: optionalUrl,
  VERIFY_API_KEY: z.string().min(16).optional(),
  APP_NAME: z.string().min(1).max(60).default('Twofold Demo'),
  ENCRYPTION_KEY: base64Key,
  /** Web Push (RFC 8292) key pair: the uncompressed P-256 point and the private scalar. */
  VAPID_PUBLIC_KEY: base64urlBytes(65, 'an uncompressed P-256 public key (65 bytes)'),
  VAPID_PRIVATE_KEY: base64urlBytes(32, 'a P-256 private key (32 bytes)'),
  /** Contact the push services may use: a mailto: or https: URL. */
  VAPID_SUBJECT: z
    .string()
    .trim()
    .regex(/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/, 'must be a mailto: or https: URL')
    .optional(),
  SMS_TRANSPORT: z.enum(['outbox', 'twilio', 'webhook']).default('outbox'),
  TWILIO_ACCOUNT_SID: z.string().optional(),
  TWILIO_AUTH_TOKEN: z.string().optional(),
  TWILIO_FROM: z.string().optional(),
  /** Base URL of the Twilio REST API; only changed to point at a local fake in tests. */
  TWILIO_API_URL: optionalUrl,
  SMS_WEBHOOK_URL: optionalUrl,
  /** Comma-separated ISO 3166 alpha-2 codes SMS may be sent to; empty = every country. */
  SMS_COUNTRY_ALLOWLIST: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((c) => c.trim().toUpperCase())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[A-Z]{2}$/, 'must be ISO 3166 alpha-2 codes'))),
  /**
   * Comma-separated phone number types (libphonenumber's) that may receive an SMS, plus
   * `NON_GEOGRAPHIC` for numbers of no country (satellite, international premium). Default:
   * mobiles only, so that no text goes to a premium-rate, shared-cost or satellite number.
   */
  SMS_NUMBER_TYPES: z
    .string()
    .default('MOBILE,FIXED_LINE_OR_MOBILE')
    .transform((v) =>
      v
        .split(',')
        .map((c) => c.trim().toUpperCase())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(SMS_NUMBER_TYPE_NAMES, { error: `must be among ${SMS_NUMBER_TYPE_NAMES.join(', ')}` })).min(1, 'must name at least one type')),
  /** Where email goes: `outbox` (DATA_DIR/mail-outbox.jsonl, shown at /dev/mail) or `smtp` (SMTP_URL). */
  MAIL_TRANSPORT: z.enum(['outbox', 'smtp']).default('outbox'),
  /** smtp://user:password@host:587 (STARTTLS when offered) or smtps://…:465 (TLS). */
  SMTP_URL: z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.string().regex(/^smtps?:\/\/[^\s/]+(:\d+)?\/?$/, 'must be smtp://[user:password@]host[:port] or smtps://…').optional())
    .optional(),
  /** The sender of every message: an address, or `Name <address>`. */
  MAIL_FROM: z
    .string()
    .trim()
    .regex(/^([^<>\r\n]{1,100} <[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/, 'must be an address, or Name <address>')
    .default('Twofold <twofold@localhost>'),
  TRUST_PROXY: int(0, 0, 10),
  /** A client must send a request's headers within this, and the whole request within the next. */
  HEADERS_TIMEOUT_SECONDS: int(10, 1, 300),
  REQUEST_TIMEOUT_SECONDS: int(30, 1, 3600),
  /** A connection with no traffic either way for this long is closed (streams ping every 20 s). */
  IDLE_TIMEOUT_SECONDS: int(60, 1, 3600),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SESSION_IDLE_SECONDS: int(30 * 60, 1),
  SESSION_ABSOLUTE_SECONDS: int(12 * 60 * 60, 1),
  OTP_MAX_ATTEMPTS: int(5, 1, 100),
  OTP_LOCKOUT_THRESHOLD: int(10, 1, 100),
  OTP_LOCKOUT_SECONDS: int(15 * 60, 1),
  SMS_PER_PHONE_LIMIT: int(5, 1),
  SMS_PER_IP_LIMIT: int(20, 1),
  PUSH_PER_USER_LIMIT: int(3, 1),
  /** Password tries per account *and client* (known browser, else IP) per 15 minutes. */
  LOGIN_PER_ACCOUNT_LIMIT: int(10, 1),
  /** Consecutive wrong passwords on an account from unknown clients before they are refused (NIST: at most 100). */
  LOGIN_ACCOUNT_CEILING: int(100, 1),
  LOGIN_PER_IP_LIMIT: int(100, 1),
  /** Second-factor code checks (TOTP, SMS, recovery, phone codes) per client IP per 15 minutes. */
  CODE_PER_IP_LIMIT: int(100, 1),
  RECOVERY_PER_USER_LIMIT: int(10, 1),
  /** Account emails (reset links) a client IP may ask for per 15 minutes, whatever the addresses. */
  MAIL_PER_IP_LIMIT: int(10, 1),
  /** Tries of emailed links (signup, password reset, change of email) per client IP per 15 minutes. */
  LINK_PER_IP_LIMIT: int(20, 1),
  /** Reset links one email address may be sent per hour. */
  MAIL_PER_ADDRESS_LIMIT: int(3, 1),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Omit<Env, 'ENCRYPTION_KEY' | 'DATA_DIR' | 'PUBLIC_URL' | 'VAPID_PUBLIC_KEY' | 'VAPID_PRIVATE_KEY'> {
  DATA_DIR: string;
  PUBLIC_URL: string;
  /** AES-256-GCM key for secrets at rest. */
  encryptionKey: Buffer;
  /** API key of the built-in web app (embedded default) or VERIFY_API_KEY when split. */
  appApiKey: string;
  /** Web Push VAPID keys, base64url (VAPID_* or generated into DATA_DIR). */
  vapid: { publicKey: string; privateKey: string };
  /** The SQLite database file (DATABASE_URL=sqlite:<file>, else DATA_DIR/twofold.sqlite); unused with PostgreSQL. */
  sqliteFile: string;
  /** Names of secrets that were generated into DATA_DIR on this start (for the warning). */
  generatedSecrets: string[];
  production: boolean;
  /**
   * Where to listen: HOST when set; otherwise loopback only (127.0.0.1 and ::1, so that
   * `localhost` works everywhere) while the SMS or mail outbox is served at /dev/sms or /dev/mail
   * — those pages hold every code and link sent — and every interface when neither is.
   */
  listenHosts: string[];
  /** False when PUBLIC_URL was not set: it then follows the address the server listens on. */
  publicUrlExplicit: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse and validate the environment. Throws ConfigError naming every bad variable. */
export function parseEnv(env: Record<string, string | undefined>): Env {
  const input: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = env[key];
    if (v !== undefined) input[key] = v;
  }
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.SMS_TRANSPORT === 'twilio') {
    for (const k of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'] as const) {
      if (!e[k]) throw new ConfigError(`Invalid configuration:\n  ${k}: required when SMS_TRANSPORT=twilio`);
    }
  }
  if (e.MAIL_TRANSPORT === 'smtp' && !e.SMTP_URL) {
    throw new ConfigError('Invalid configuration:\n  SMTP_URL: required when MAIL_TRANSPORT=smtp');
  }
  if (e.SMS_TRANSPORT === 'webhook' && !e.SMS_WEBHOOK_URL) {
    throw new ConfigError('Invalid configuration:\n  SMS_WEBHOOK_URL: required when SMS_TRANSPORT=webhook');
  }
  if (Boolean(e.VAPID_PUBLIC_KEY) !== Boolean(e.VAPID_PRIVATE_KEY)) {
    throw new ConfigError('Invalid configuration:\n  VAPID_PRIVATE_KEY: VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are set together');
  }
  if (e.VAPID_PUBLIC_KEY && e.VAPID_PRIVATE_KEY && vapidPublicKeyOf(e.VAPID_PRIVATE_KEY) !== e.VAPID_PUBLIC_KEY.replace(/=+$/, '')) {
    throw new ConfigError('Invalid configuration:\n  VAPID_PUBLIC_KEY: does not match VAPID_PRIVATE_KEY');
  }
  if (e.VERIFY_URL && !e.VERIFY_API_KEY) {
    throw new ConfigError('Invalid configuration:\n  VERIFY_API_KEY: required when VERIFY_URL is set');
  }
  return e;
}

/**
 * Production fails closed: no database and no secret made up on the spot in a working directory
 * (lost with it, copied with it, different on every instance). A single host may name its SQLite
 * file deliberately (DATABASE_URL=sqlite:<file>). A web app on its own needs no VAPID keys.
 */
function refuseMissingInProduction(e: Env, role: 'all' | 'verify' | 'app'): void {
  const missing: string[] = [];
  if (!e.DATABASE_URL) missing.push('  DATABASE_URL: required when NODE_ENV=production (postgres://…, or sqlite:<file> for a single host)');
  if (!e.ENCRYPTION_KEY) missing.push('  ENCRYPTION_KEY: required when NODE_ENV=production (32 random bytes, base64); never generated in production');
  if (!e.VERIFY_API_KEY) missing.push('  VERIFY_API_KEY: required when NODE_ENV=production; never generated in production');
  if (role !== 'app' && !e.VAPID_PRIVATE_KEY) missing.push('  VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY: required when NODE_ENV=production (`npx web-push generate-vapid-keys`); never generated in production');
  if (missing.length) throw new ConfigError(`Invalid configuration:\n${missing.join('\n')}`);
}

interface SecretsFile {
  encryptionKey?: string;
  appApiKey?: string;
  vapidPublicKey?: string;
  vapidPrivateKey?: string;
}

/** The base64url uncompressed public point of a base64url P-256 private key (throws if invalid). */
function vapidPublicKeyOf(privateKey: string): string {
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(privateKey, 'base64url'));
    return ecdh.getPublicKey().toString('base64url');
  } catch {
    throw new ConfigError('Invalid configuration:\n  VAPID_PRIVATE_KEY: not a valid P-256 private key');
  }
}

/** A fresh VAPID key pair, base64url as RFC 8292 and the Push API want them. */
function generateVapidKeys(): { publicKey: string; privateKey: string } {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return { publicKey: point.toString('base64url'), privateKey: jwk.d! };
}

/**
 * Load configuration: validate the environment, then take secrets from it or, when absent,
 * from (or newly into) DATA_DIR/secrets.json, mode 0600.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, o: { role?: 'all' | 'verify' | 'app' } = {}): Config {
  const e = parseEnv(env);
  if (e.NODE_ENV === 'production') refuseMissingInProduction(e, o.role ?? 'all');
  const dataDir = resolve(e.DATA_DIR);
  const generatedSecrets: string[] = [];
  let encryptionKey = e.ENCRYPTION_KEY ? Buffer.from(e.ENCRYPTION_KEY, 'base64') : undefined;
  let appApiKey = e.VERIFY_API_KEY;
  let vapid = e.VAPID_PUBLIC_KEY && e.VAPID_PRIVATE_KEY ? { publicKey: e.VAPID_PUBLIC_KEY.replace(/=+$/, ''), privateKey: e.VAPID_PRIVATE_KEY.replace(/=+$/, '') } : undefined;
  // A production web app on its own (the only case that gets here without VAPID keys) never
  // sends a push: keys for this process alone, nothing written.
  if (e.NODE_ENV === 'production' && !vapid) vapid = generateVapidKeys();
  if (!encryptionKey || !appApiKey || !vapid) {
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, 'secrets.json');
    const stored: SecretsFile = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SecretsFile) : {};
    let changed = false;
    if (!encryptionKey) {
      if (!stored.encryptionKey) {
        stored.encryptionKey = randomBytes(32).toString('base64');
        generatedSecrets.push('ENCRYPTION_KEY');
        changed = true;
      }
      encryptionKey = Buffer.from(stored.encryptionKey, 'base64');
    }
    if (!appApiKey) {
      if (!stored.appApiKey) {
        stored.appApiKey = randomBytes(24).toString('base64url');
        generatedSecrets.push('VERIFY_API_KEY');
        changed = true;
      }
      appApiKey = stored.appApiKey;
    }
    if (!vapid) {
      if (!stored.vapidPublicKey || !stored.vapidPrivateKey) {
        const keys = generateVapidKeys();
        stored.vapidPublicKey = keys.publicKey;
        stored.vapidPrivateKey = keys.privateKey;
        generatedSecrets.push('VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY');
        changed = true;
      }
      vapid = { publicKey: stored.vapidPublicKey, privateKey: stored.vapidPrivateKey };
    }
    if (changed) {
      writeFileSync(file, JSON.stringify(stored, null, 2), { mode: 0o600 });
      chmodSync(file, 0o600);
    }
  }
  const { VAPID_PUBLIC_KEY: _pub, VAPID_PRIVATE_KEY: _priv, ...rest } = e;
  const sqliteUrl = e.DATABASE_URL?.startsWith('sqlite:') ? e.DATABASE_URL : undefined;
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  return {
    ...rest,
    DATA_DIR: dataDir,
    // PostgreSQL's URL only; SQLite's file is sqliteFile.
    DATABASE_URL: sqliteUrl ? undefined : e.DATABASE_URL,
    sqliteFile: sqliteUrl ? resolve(sqliteUrl.slice('sqlite:'.length)) : join(dataDir, 'twofold.sqlite'),
    PUBLIC_URL: publicUrl,
    encryptionKey,
    appApiKey,
    vapid,
    generatedSecrets,
    production: e.NODE_ENV === 'production',
    listenHosts: e.HOST !== undefined ? [e.HOST] : (e.SMS_TRANSPORT === 'outbox' || e.MAIL_TRANSPORT === 'outbox') && e.NODE_ENV !== 'production' ? ['127.0.0.1', '::1'] : ['0.0.0.0'],
    publicUrlExplicit: e.PUBLIC_URL !== undefined,
  };
}
