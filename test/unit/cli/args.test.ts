import { describe, expect, it } from 'vitest';
import { buildClientRegistration } from '../../../lib/cli/commands/client.ts';
import { parseTicket } from '../../../lib/cli/commands/device.ts';
import { parseAssignments, parseValue } from '../../../lib/cli/commands/shared.ts';
import { buildTenantBody } from '../../../lib/cli/commands/tenant.ts';
import { buildUserBody } from '../../../lib/cli/commands/user.ts';
import { CliError } from '../../../lib/cli/context.ts';
import { basicAuthorization, buildAuthorizeForm, withClientAuth } from '../../../lib/cli/oauth.ts';

const CIBA = 'urn:openid:params:grant-type:ciba';

describe('value parsing', () => {
  it.each([
    ['2', 2],
    ['-1.5', -1.5],
    ['true', true],
    ['false', false],
    ['null', null],
    ['["poll","ping"]', ['poll', 'ping']],
    ['{"a":1}', { a: 1 }],
    ['ACME support', 'ACME support'],
    ['+15551234567', '+15551234567'],
    ['0x10', '0x10'],
  ])('parses %s', (raw, value) => {
    expect(parseValue(raw)).toEqual(value);
  });

  it('refuses broken JSON', () => {
    expect(() => parseValue('[poll')).toThrow(CliError);
  });

  it('splits key=value at the first equals sign', () => {
    expect(parseAssignments(['a=b=c', 'n=3'])).toEqual({ a: 'b=c', n: 3 });
    expect(() => parseAssignments(['novalue'])).toThrow(/key=value/);
  });
});

describe('request bodies', () => {
  it('merges tenant settings with the display name', () => {
    expect(
      buildTenantBody({
        displayName: 'ACME',
        set: ['backchannel_polling_interval=2', 'fapi=true', 'delivery_modes=["poll","ping","push"]'],
      }),
    ).toEqual({
      display_name: 'ACME',
      backchannel_polling_interval: 2,
      fapi: true,
      delivery_modes: ['poll', 'ping', 'push'],
    });
    expect(buildTenantBody({})).toEqual({});
  });

  it('builds an RFC 7591 registration with the CIBA grant', () => {
    expect(buildClientRegistration({ name: 'POS' })).toEqual({
      client_name: 'POS',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [CIBA],
      backchannel_token_delivery_mode: 'poll',
    });
    expect(
      buildClientRegistration({
        name: 'Bank',
        authMethod: 'client_secret_post',
        mode: 'ping',
        notificationEndpoint: 'https://rp.example/cb',
        userCode: true,
        grant: ['refresh_token', CIBA],
      }),
    ).toEqual({
      client_name: 'Bank',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: [CIBA, 'refresh_token'],
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: 'https://rp.example/cb',
      backchannel_user_code_parameter: true,
    });
  });

  it('refuses ping without a notification endpoint and unknown modes', () => {
    expect(() => buildClientRegistration({ name: 'x', mode: 'ping' })).toThrow(/notification-endpoint/);
    expect(() => buildClientRegistration({ name: 'x', mode: 'pull' })).toThrow(/--mode/);
    expect(() => buildClientRegistration({ name: 'x', authMethod: 'none' })).toThrow(/--auth-method/);
  });

  it('maps user options to claim names', () => {
    expect(
      buildUserBody({
        email: 'a@example.com',
        phone: '+15551234567',
        name: 'Ada',
        claim: ['email_verified=true', 'locale=en-GB'],
        userCode: '1234',
      }),
    ).toEqual({
      email: 'a@example.com',
      phone_number: '+15551234567',
      name: 'Ada',
      email_verified: true,
      locale: 'en-GB',
      user_code: '1234',
    });
  });

  it('builds the bc-authorize form without absent parameters', () => {
    expect(
      buildAuthorizeForm({ scope: 'openid', login_hint: 'email:a@example.com', requested_expiry: 60 }).toString(),
    ).toBe('scope=openid&login_hint=email%3Aa%40example.com&requested_expiry=60');
  });
});

describe('client authentication', () => {
  it('form-urlencodes id and secret before Basic (RFC 6749 §2.3.1)', () => {
    const header = basicAuthorization('my client:1', 'p@ss+w/rd%é');
    expect(header.startsWith('Basic ')).toBe(true);
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    expect(decoded).toBe('my+client%3A1:p%40ss%2Bw%2Frd%25%C3%A9');
    const [id, secret] = decoded.split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' ')));
    expect([id, secret]).toEqual(['my client:1', 'p@ss+w/rd%é']);
  });

  it('puts the credentials in the body for post', async () => {
    const { form, auth } = withClientAuth(new URLSearchParams({ scope: 'openid' }), {
      clientId: 'c',
      clientSecret: 's',
      method: 'post',
    });
    expect(auth).toBeUndefined();
    expect(form.toString()).toBe('scope=openid&client_id=c&client_secret=s');
  });
});

describe('enrollment tickets', () => {
  it('accepts a bare ticket or the enrollment URI', () => {
    expect(parseTicket('abc')).toEqual({ ticket: 'abc' });
    expect(parseTicket('http://127.0.0.1:8787/demo/authenticator?ticket=abc')).toEqual({
      ticket: 'abc',
      issuer: 'http://127.0.0.1:8787/demo',
    });
    expect(parseTicket('https://id.example/acme/authenticator#ticket=xyz')).toEqual({
      ticket: 'xyz',
      issuer: 'https://id.example/acme',
    });
    expect(() => parseTicket('https://id.example/acme/authenticator')).toThrow(/no ticket/);
  });
});
