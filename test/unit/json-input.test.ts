import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidAuthorizationDetails } from '../../lib/errors.ts';
import { MAX_JSON_DEPTH, parseJsonInput, parseJsonText } from '../../lib/json-input.ts';

const refused = (text: string) => () => parseJsonText(text, 'the body');

describe('parseJsonText (hardening rule 4)', () => {
  it('parses ordinary JSON as JSON.parse does', () => {
    for (const text of [
      '{}',
      '[]',
      '{"a":[1,2.5,-3,0,-0.0,1e3,1.5E-7,9007199254740991,-9007199254740991],"b":{"c":null,"d":true,"e":"x\\u00e9"}}',
      '"text"',
      '42',
      '{"emoji":"\\ud83d\\ude00","same":1,"same":1}',
      '  {"padded" : [ ] }  ',
    ]) {
      expect(parseJsonText(text), text).toEqual(JSON.parse(text));
    }
  });

  it.each([
    ['1e400', 'outside the range of a double'],
    ['-1e400', 'outside the range of a double'],
    ['{"a":[{"b":1e309}]}', 'outside the range of a double'],
    ['9007199254740992', 'above 2^53'],
    ['9007199254740993', 'above 2^53'],
    ['-9007199254740993', 'above 2^53'],
    ['{"n":123456789012345678901234567890}', 'above 2^53'],
    ['1e300', 'above 2^53'],
    ['1e-400', 'too small to keep'],
    ['0.0000e-9999', undefined],
    ['1e-131', 'too small to keep'],
  ])('judges the number %s from its source text', (text, problem) => {
    if (problem === undefined) expect(parseJsonText(text)).toBe(0);
    else expect(refused(text)).toThrow(problem);
  });

  it.each([
    '{"__proto__":{"polluted":true}}',
    '{"a":{"constructor":{"prototype":{"x":1}}}}',
    '{"a":[{"prototype":1}]}',
    '[{"ok":1},{"deep":{"deeper":{"__proto__":null}}}]',
  ])('refuses the keys __proto__, constructor and prototype anywhere: %s', (text) => {
    expect(refused(text)).toThrow(/the key (__proto__|constructor|prototype) is not allowed/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses unpaired surrogates, repeated keys with other values and deep nesting', () => {
    expect(refused('{"a":"\\ud800"}')).toThrow('unpaired surrogate');
    expect(refused('{"\\udc00":1}')).toThrow('unpaired surrogate');
    expect(refused('{"a":1,"a":2}')).toThrow('appears twice');
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(parseJsonText(deep(MAX_JSON_DEPTH))).toBeDefined();
    expect(refused(deep(MAX_JSON_DEPTH + 1))).toThrow('nested deeper');
    // Brackets inside strings do not count.
    expect(parseJsonText(`{"s":"${'['.repeat(1000)}\\""}`)).toEqual({ s: `${'['.repeat(1000)}"` });
    expect(refused(deep(50_000))).toThrow('nested deeper');
  });

  it('answers the endpoint error: its own code for refused content, invalid_request for text that is not JSON', () => {
    const attempt = (text: string) => {
      try {
        parseJsonInput(text, { what: 'authorization_details', invalid: InvalidAuthorizationDetails });
      } catch (error) {
        return error as { error: string; message: string };
      }
      return undefined;
    };
    expect(attempt('[{"amount":1e400}]')).toMatchObject({ error: 'invalid_authorization_details' });
    expect(attempt('[{"amount":1e400}]')?.message).toMatch(/^authorization_details: the number 1e400/);
    expect(attempt('[{')).toMatchObject({
      error: 'invalid_request',
      message: 'authorization_details is not valid JSON',
    });
    expect(attempt('[{"type":"x"}]')).toBeUndefined();
  });
});

/**
 * The one validation step cannot be bypassed endpoint by endpoint: request input is parsed nowhere else. Each
 * JSON.parse left in service code (not the CLI, the device SDK or the browser code) is listed here with
 * what it parses, none of it a client's, device's or operator's request.
 */
const ALLOWED_JSON_PARSE: Record<string, string> = {
  'lib/ciba/push-response.ts': 'the token response the service sealed, after its decryption authenticated it',
  'lib/ciba/resolve-login-hint.ts':
    'the payload of an ID token this tenant signed (id_token_hint), after its signature',
  'lib/ciba/passkey.ts': "clientDataJSON's challenge (only compared; the WebAuthn library verifies the response)",
  'lib/oauth/mtls.ts': 'a quoted subjectAltName value of a TLS client certificate',
  'lib/local/state-file.ts': "local mode's own state file (.data/local.json), written by npm start",
  'lib/web/build.ts': "the web build's own stamp (.build-inputs.json), written by the previous build",
  'lib/local/store-owner.ts': "local mode's own running.json, written by the service that holds the store",
  'functions/tenant-provisioner/settings.ts': "a Web Push secret in the deployment's Secrets Manager (custom resource)",
  'lib/adapters/eventbridge-event-bus.ts':
    "the event patterns of the bus's rules, as EventBridge's ListRules returns them",
  'lib/adapters/sns-push-platforms.ts': "a Secrets Manager secret of the deployment's (push credentials)",
  'lib/adapters/tenant-keys.ts': "a tenant's private JWK, after its sealing (KMS in AWS) opened it",
  'functions/tenant-provisioner/handler.ts': "the CDK tenants file's settings (CloudFormation custom resource)",
  'lib/adapters/sqs-decision-retries.ts':
    "a decision letter on the deployment's own decision-retries queue (the events function wrote it), then zod",
  'lib/adapters/dynamodb/proof-bytes.ts':
    "the header of a decision's DPoP proof being stored, after verify-device-proof verified it (only re-serialized)",
};

describe('JSON input goes through lib/json-input.ts', () => {
  it('has no other JSON.parse of request input in service code', () => {
    const root = join(import.meta.dirname, '../..');
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
          if (!['cli', 'device', 'browser'].includes(name)) walk(path);
        } else if (path.endsWith('.ts') && readFileSync(path, 'utf8').includes('JSON.parse(')) {
          found.push(relative(root, path));
        }
      }
    };
    walk(join(root, 'lib'));
    walk(join(root, 'functions'));
    expect(found.filter((path) => !(path in ALLOWED_JSON_PARSE)).sort()).toEqual([]);
  });
});
