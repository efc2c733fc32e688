// Threat: SMS pumping and toll fraud — texts sent to premium-rate, shared-cost or satellite
// numbers that pay whoever holds them — and a landline typed into the "mobile phone" field, which
// would never get its code. By default only mobile numbers (libphonenumber's MOBILE and
// FIXED_LINE_OR_MOBILE) of a country receive a text, on every path; SMS_NUMBER_TYPES widens it and
// the country allow-list still applies on top.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberTypeRefusal } from '../../src/verify/core/sms-gate.js';
import { Browser, newUser } from '../app/helpers.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy } from '../verify/helpers.js';

const DEFAULT = ['MOBILE', 'FIXED_LINE_OR_MOBILE'];

describe('which numbers may receive an SMS', () => {
  it.each([
    ['+449098790000', 'premium-rate'],
    ['+19005550123', 'premium-rate'],
    ['+979123456789', 'no country'],
    ['+881612345678', 'no country'],
    ['+870773111632', 'no country'],
    ['+442079460000', 'landline'],
  ])('when the number is %s then it is refused (%s)', (e164, words) => {
    expect(numberTypeRefusal(e164, DEFAULT)).toContain(words);
  });

  it.each(['+447400123456', '+12015550123', '+33612345678', '+491701234567'])('when the number is the mobile %s then it may receive one', (e164) => {
    expect(numberTypeRefusal(e164, DEFAULT)).toBeNull();
  });

  it('when SMS_NUMBER_TYPES adds FIXED_LINE and NON_GEOGRAPHIC then landlines and satellite mobiles may, premium-rate still may not', () => {
    const wide = [...DEFAULT, 'FIXED_LINE', 'NON_GEOGRAPHIC'];
    expect(numberTypeRefusal('+442079460000', wide)).toBeNull();
    expect(numberTypeRefusal('+881612345678', wide)).toBeNull();
    expect(numberTypeRefusal('+449098790000', wide)).toContain('premium-rate');
  });
});

describe('numbers refused on every path', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({});
  });
  afterAll(() => t?.stop());

  const sent = async (e164: string) => ((await (await fetch(`${t.url}/dev/sms.json?to=${encodeURIComponent(e164)}`)).json()) as { messages: unknown[] }).messages.length;

  it.each([
    ['44', '9098790000', '+449098790000'],
    ['1', '9005550123', '+19005550123'],
    ['979', '123456789', '+979123456789'],
    ['881', '612345678', '+881612345678'],
    ['870', '773111632', '+870773111632'],
  ])('when the Authy API starts a phone verification to +%s %s then 400 60033 names the reason and nothing is sent', async (cc, national, e164) => {
    const r = await authy(t.url, t.apiKey, 'POST', '/protected/json/phones/verification/start', { via: 'sms', phone_number: national, country_code: cc });
    expect(r.status).toBe(400);
    expect(r.body['error_code']).toBe('60033');
    expect(String(r.body['message'])).toMatch(/cannot receive text messages: it (is a|belongs to)/);
    expect(await sent(e164)).toBe(0);
  });

  it('when a landline is typed into the signup form then 400 names the phone field and why', async () => {
    const r = await new Browser(t.url).post('/user', newUser({ countryCode: 'GB', phone: '020 7946 0000' }));
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('VALIDATION');
    expect((r.body.fields as Record<string, string>).phone).toContain('landline');
    expect(await sent('+442079460000')).toBe(0);
  });

  it('when a UK mobile signs up then its code is sent', async () => {
    const r = await new Browser(t.url).post('/user', newUser({ countryCode: 'GB', phone: '07400 123456' }));
    expect(r.status).toBe(202);
    expect(await sent('+447400123456')).toBe(1);
  });

  it('when a user registered through the Authy API has a landline then an SMS for them is refused', async () => {
    const reg = await authy(t.url, t.apiKey, 'POST', '/protected/json/users/new', { 'user[email]': 'landline@example.com', 'user[cellphone]': '2079460001', 'user[country_code]': '44' });
    expect(reg.status).toBe(200);
    const id = (reg.body['user'] as { id: number }).id;
    const r = await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
    expect(r.status).toBe(400);
    expect(String(r.body['message'])).toContain('landline');
    expect(await sent('+442079460001')).toBe(0);
  });
});

describe('SMS_NUMBER_TYPES and the country allow-list together', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({ env: { SMS_NUMBER_TYPES: 'MOBILE,FIXED_LINE_OR_MOBILE,FIXED_LINE', SMS_COUNTRY_ALLOWLIST: 'us' } });
  });
  afterAll(() => t?.stop());

  it('when landlines are allowed but the country is not then the allow-list still refuses', async () => {
    const r = await authy(t.url, t.apiKey, 'POST', '/protected/json/phones/verification/start', { via: 'sms', phone_number: '2079460000', country_code: '44' });
    expect(r.status).toBe(400);
    expect(String(r.body['message'])).toContain('country');
  });

  it('when a US number is verified then its code is sent', async () => {
    const r = await authy(t.url, t.apiKey, 'POST', '/protected/json/phones/verification/start', { via: 'sms', phone_number: '2015550142', country_code: '1' });
    expect(r.status).toBe(200);
  });
});

describe('a bad SMS_NUMBER_TYPES', () => {
  it('when it names an unknown type then the process refuses to start, naming the variable', async () => {
    await expect(startTestSystem({ env: { SMS_NUMBER_TYPES: 'MOBILE,SATELLITE' } })).rejects.toThrow(/SMS_NUMBER_TYPES/);
  });
});
