import { randomUUID } from 'node:crypto';
import {
  AwsError,
  authorize,
  type Core,
  type Endpoint,
  type FakeRequest,
  type FakeResponse,
  startEndpoint,
  xmlEscape,
} from './endpoint.ts';

/**
 * SNS mobile push (Query protocol, XML answers): platform applications (CreatePlatformApplication and friends, with
 * the credential shapes SNS requires for APNs token or certificate auth and FCM HTTP v1 service accounts), platform
 * endpoints (CreatePlatformEndpoint's idempotency and its "already exists with the same Token, but different
 * attributes" refusal, Set/GetEndpointAttributes, DeleteEndpoint) and Publish to an endpoint, which checks the
 * message as SNS and the push services would take it:
 * - `MessageStructure: json`: the Message is a JSON object with a string `default` and, per platform, a string
 *   holding that platform's payload as JSON;
 * - APNs (Apple, "Generating a remote notification"): an object with an `aps` dictionary, `alert` a string or a
 *   dictionary of known keys, at most 4096 bytes; `AWS.SNS.MOBILE.APNS.PUSH_TYPE` alert|background|... consistent
 *   with the payload, `AWS.SNS.MOBILE.APNS.PRIORITY` 5 or 10;
 * - FCM HTTP v1 (Google, "projects.messages"): `fcmV1Message.message` with only `data` (string values), `notification`
 *   (title, body, image), `android` (priority, ttl as a duration like `30s`, ...), `apns`, `webpush`, `fcm_options`;
 *   no target (SNS sets the token), at most 4096 bytes.
 * A disabled endpoint answers `EndpointDisabled` as SNS does once the push service reported the token gone
 * (`markUnregistered` simulates that report). Deliveries are kept for the tests (the device reads its push there).
 *
 * Publish to a `PhoneNumber` sends a text message (approval links, docs/channels.md): authorized as SNS does, on
 * `*` (a phone number has no ARN), the number in E.164, at most 1600 characters, `AWS.SNS.SMS.SMSType`
 * Transactional or Promotional and `AWS.SNS.SMS.SenderID` 1 to 11 letters and digits with at least one letter. In the
 * SMS sandbox (the default) only verified destination numbers (`verifyPhone`) receive messages. Kept in `texts`.
 *
 * Not covered: topics and subscriptions, SMS spend limits, origination numbers, delivery status logging,
 * Baidu/ADM/MPNS/WNS platforms.
 */

export interface TextMessage {
  phoneNumber: string;
  message: string;
  attributes: Record<string, string>;
  at: number;
}

export interface PlatformApplication {
  arn: string;
  name: string;
  platform: string;
  attributes: Record<string, string>;
}

export interface PlatformEndpoint {
  arn: string;
  application: string;
  attributes: Record<string, string>;
}

export interface Delivery {
  endpointArn: string;
  platform: string;
  /** The payload the push service received (parsed JSON), and the SNS message attributes. */
  payload: unknown;
  attributes: Record<string, string>;
  at: number;
}

const NS = 'http://sns.amazonaws.com/doc/2010-03-31/';
const APNS_ALERT_KEYS = new Set([
  'title',
  'subtitle',
  'body',
  'launch-image',
  'title-loc-key',
  'title-loc-args',
  'subtitle-loc-key',
  'subtitle-loc-args',
  'loc-key',
  'loc-args',
]);
const APNS_PUSH_TYPES = new Set([
  'alert',
  'background',
  'location',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'pushtotalk',
]);
const FCM_MESSAGE_KEYS = new Set(['data', 'notification', 'android', 'webpush', 'apns', 'fcm_options']);
const FCM_ANDROID_KEYS = new Set([
  'collapse_key',
  'priority',
  'ttl',
  'restricted_package_name',
  'data',
  'notification',
  'fcm_options',
  'direct_boot_ok',
]);

const invalid = (message: string) => new AwsError('InvalidParameter', `Invalid parameter: ${message}`);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Apple's payload rules for a remote notification. */
export const checkApnsPayload = (text: string, attributes: Record<string, string>): unknown => {
  if (Buffer.byteLength(text) > 4096)
    throw invalid(`Message Reason: APNs payload is ${Buffer.byteLength(text)} bytes, over 4096`);
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw invalid('Message Reason: the APNS payload is not JSON');
  }
  if (!isObject(payload) || !isObject(payload.aps))
    throw invalid('Message Reason: an APNs payload needs an aps dictionary');
  const aps = payload.aps;
  if (aps.alert !== undefined) {
    if (isObject(aps.alert)) {
      for (const [k, v] of Object.entries(aps.alert)) {
        if (!APNS_ALERT_KEYS.has(k)) throw invalid(`Message Reason: unknown aps.alert key ${k}`);
        if (!k.endsWith('-args') && typeof v !== 'string')
          throw invalid(`Message Reason: aps.alert.${k} must be a string`);
      }
    } else if (typeof aps.alert !== 'string')
      throw invalid('Message Reason: aps.alert must be a string or a dictionary');
  }
  if (aps.badge !== undefined && typeof aps.badge !== 'number')
    throw invalid('Message Reason: aps.badge must be a number');
  const pushType = attributes['AWS.SNS.MOBILE.APNS.PUSH_TYPE'];
  if (pushType !== undefined) {
    if (!APNS_PUSH_TYPES.has(pushType)) throw invalid(`MessageAttributes Reason: unknown APNs push type ${pushType}`);
    if (pushType === 'alert' && aps.alert === undefined) throw invalid('Message Reason: an alert push needs aps.alert');
    if (pushType === 'background' && aps['content-available'] !== 1)
      throw invalid('Message Reason: a background push needs content-available: 1');
  }
  const priority = attributes['AWS.SNS.MOBILE.APNS.PRIORITY'];
  if (priority !== undefined && priority !== '5' && priority !== '10')
    throw invalid('MessageAttributes Reason: APNs priority is 5 or 10');
  if (priority === '10' && pushType === 'background')
    throw invalid('MessageAttributes Reason: a background push must have priority 5');
  return payload;
};

/** Google's FCM HTTP v1 message rules, as SNS passes `fcmV1Message` on. */
export const checkFcmPayload = (text: string): unknown => {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw invalid('Message Reason: the GCM payload is not JSON');
  }
  if (!isObject(payload) || !isObject(payload.fcmV1Message) || !isObject(payload.fcmV1Message.message)) {
    throw invalid('Message Reason: an FCM payload needs fcmV1Message.message (FCM HTTP v1; the legacy API is gone)');
  }
  const message = payload.fcmV1Message.message;
  if (Buffer.byteLength(JSON.stringify(message)) > 4096)
    throw invalid('Message Reason: the FCM message is over 4096 bytes');
  for (const key of Object.keys(message)) {
    if (['token', 'topic', 'condition', 'name'].includes(key))
      throw invalid(`Message Reason: message.${key} is set by SNS`);
    if (!FCM_MESSAGE_KEYS.has(key)) throw invalid(`Message Reason: unknown FCM message field ${key}`);
  }
  const stringMap = (value: unknown, where: string) => {
    if (value === undefined) return;
    if (!isObject(value)) throw invalid(`Message Reason: ${where} must be an object`);
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string')
        throw invalid(`Message Reason: ${where}.${k} must be a string (FCM data values are strings)`);
      if (k === 'from' || k === 'message_type' || /^(google|gcm)/.test(k))
        throw invalid(`Message Reason: ${where}.${k} is a reserved key`);
    }
  };
  stringMap(message.data, 'message.data');
  if (message.notification !== undefined) {
    if (!isObject(message.notification)) throw invalid('Message Reason: message.notification must be an object');
    for (const [k, v] of Object.entries(message.notification)) {
      if (!['title', 'body', 'image'].includes(k) || typeof v !== 'string')
        throw invalid(`Message Reason: message.notification.${k} is not a string field of a notification`);
    }
  }
  if (message.android !== undefined) {
    const android = message.android;
    if (!isObject(android)) throw invalid('Message Reason: message.android must be an object');
    for (const key of Object.keys(android))
      if (!FCM_ANDROID_KEYS.has(key)) throw invalid(`Message Reason: unknown android field ${key}`);
    if (android.priority !== undefined && !/^(normal|high)$/i.test(String(android.priority)))
      throw invalid('Message Reason: android.priority is NORMAL or HIGH');
    if (android.ttl !== undefined && !/^\d+(\.\d{1,9})?s$/.test(String(android.ttl)))
      throw invalid('Message Reason: android.ttl is a duration such as "3.5s"');
    stringMap(android.data, 'message.android.data');
  }
  return payload;
};

/** Query-protocol parameters: `A.entry.N.key/value` maps and `MessageAttributes.entry.N.Name/Value.*`. */
const parseQuery = (body: string) => {
  const params = new URLSearchParams(body);
  const map = (prefix: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (let i = 1; params.has(`${prefix}.entry.${i}.key`); i++) {
      out[params.get(`${prefix}.entry.${i}.key`)!] = params.get(`${prefix}.entry.${i}.value`) ?? '';
    }
    return out;
  };
  const messageAttributes: Record<string, string> = {};
  for (let i = 1; params.has(`MessageAttributes.entry.${i}.Name`); i++) {
    messageAttributes[params.get(`MessageAttributes.entry.${i}.Name`)!] =
      params.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? '';
  }
  return { params, map, messageAttributes };
};

const xml = (action: string, result: string): FakeResponse => ({
  status: 200,
  headers: { 'content-type': 'text/xml' },
  body: `<${action}Response xmlns="${NS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
});

const entries = (attributes: Record<string, string>) =>
  `<Attributes>${Object.entries(attributes)
    .map(([k, v]) => `<entry><key>${xmlEscape(k)}</key><value>${xmlEscape(v)}</value></entry>`)
    .join('')}</Attributes>`;

export class FakeSns {
  readonly applications = new Map<string, PlatformApplication>();
  readonly endpoints = new Map<string, PlatformEndpoint>();
  readonly deliveries: Delivery[] = [];
  /** Text messages sent to phone numbers. */
  readonly texts: TextMessage[] = [];
  /** New accounts are in the SMS sandbox: only verified destination numbers receive messages. */
  smsSandbox = true;
  readonly verifiedPhones = new Set<string>();
  endpoint?: Endpoint;

  constructor(readonly core: Core) {}

  async start(): Promise<void> {
    this.endpoint = await startEndpoint(this.core, {
      signingName: 'sns',
      protocol: 'query',
      errorOptions: { queryNamespace: NS },
      handle: (request) => this.#handle(request),
    });
  }

  /** SNS disables an endpoint when APNs or FCM reports its token gone (app uninstalled, token rotated). */
  markUnregistered(endpointArn: string): void {
    const endpoint = this.endpoints.get(endpointArn);
    if (!endpoint) throw new Error(`no endpoint ${endpointArn}`);
    endpoint.attributes.Enabled = 'false';
  }

  /** What the device with this push token received, oldest first. */
  deliveriesTo(token: string): Delivery[] {
    return this.deliveries.filter((d) => this.endpoints.get(d.endpointArn)?.attributes.Token === token);
  }

  #checkCredentials(platform: string, a: Record<string, string>): void {
    if (platform === 'GCM') {
      let account: Record<string, unknown>;
      try {
        account = JSON.parse(a.PlatformCredential ?? '') as Record<string, unknown>;
      } catch {
        throw invalid('PlatformCredential Reason: FCM HTTP v1 needs the service-account JSON');
      }
      if (
        account.type !== 'service_account' ||
        typeof account.private_key !== 'string' ||
        typeof account.client_email !== 'string'
      ) {
        throw invalid(
          'PlatformCredential Reason: FCM HTTP v1 needs a service account with private_key and client_email',
        );
      }
      return;
    }
    if (platform === 'APNS' || platform === 'APNS_SANDBOX') {
      const token = a.ApplePlatformTeamID !== undefined || a.ApplePlatformBundleID !== undefined;
      if (token) {
        if (!/-----BEGIN PRIVATE KEY-----/.test(a.PlatformCredential ?? ''))
          throw invalid('PlatformCredential Reason: the APNs signing key (.p8) is required');
        if (!/^[A-Z0-9]{10}$/.test(a.PlatformPrincipal ?? ''))
          throw invalid('PlatformPrincipal Reason: the APNs key id is 10 characters');
        if (!/^[A-Z0-9]{10}$/.test(a.ApplePlatformTeamID ?? ''))
          throw invalid('ApplePlatformTeamID Reason: the team id is 10 characters');
        if (!a.ApplePlatformBundleID) throw invalid('ApplePlatformBundleID Reason: required');
      } else if (
        !/BEGIN CERTIFICATE/.test(a.PlatformPrincipal ?? '') ||
        !/PRIVATE KEY/.test(a.PlatformCredential ?? '')
      ) {
        throw invalid('PlatformPrincipal Reason: the APNs certificate and its private key are required');
      }
      return;
    }
    throw invalid(`Platform Reason: ${platform} is not supported by the harness`);
  }

  async #handle(request: FakeRequest): Promise<FakeResponse> {
    const { params, map, messageAttributes } = parseQuery(request.body.toString('utf8'));
    const action = params.get('Action') ?? '';
    const denied = { code: 'AuthorizationError', status: 403 };
    const check = (resource: string) => authorize(this.core, 'sns', denied, request.caller, `sns:${action}`, resource);
    const application = (arn: string) => {
      const app = this.applications.get(arn);
      if (!app) throw new AwsError('NotFound', 'PlatformApplication does not exist', 404);
      return app;
    };
    const endpoint = (arn: string) => {
      const ep = this.endpoints.get(arn);
      if (!ep) throw new AwsError('NotFound', 'Endpoint does not exist', 404);
      return ep;
    };
    switch (action) {
      case 'CreatePlatformApplication': {
        const name = params.get('Name') ?? '';
        const platform = params.get('Platform') ?? '';
        const arn = `arn:aws:sns:${this.core.region}:${this.core.account}:app/${platform}/${name}`;
        await check(arn);
        const attributes = map('Attributes');
        this.#checkCredentials(platform, attributes);
        this.applications.set(arn, { arn, name, platform, attributes });
        return xml(action, `<PlatformApplicationArn>${arn}</PlatformApplicationArn>`);
      }
      case 'SetPlatformApplicationAttributes': {
        const arn = params.get('PlatformApplicationArn') ?? '';
        await check(arn);
        const app = application(arn);
        const attributes = { ...app.attributes, ...map('Attributes') };
        this.#checkCredentials(app.platform, attributes);
        app.attributes = attributes;
        return xml(action, '');
      }
      case 'GetPlatformApplicationAttributes': {
        const arn = params.get('PlatformApplicationArn') ?? '';
        await check(arn);
        const { PlatformCredential: _secret, ...visible } = application(arn).attributes;
        return xml(action, entries({ Enabled: 'true', ...visible }));
      }
      case 'DeletePlatformApplication': {
        const arn = params.get('PlatformApplicationArn') ?? '';
        await check(arn);
        this.applications.delete(arn);
        for (const [epArn, ep] of this.endpoints) if (ep.application === arn) this.endpoints.delete(epArn);
        return xml(action, '');
      }
      case 'CreatePlatformEndpoint': {
        const appArn = params.get('PlatformApplicationArn') ?? '';
        await check(appArn);
        const app = application(appArn);
        const token = params.get('Token') ?? '';
        if (!token) throw invalid('Token Reason: required');
        const attributes: Record<string, string> = { ...map('Attributes'), Token: token };
        const userData = params.get('CustomUserData');
        if (userData !== null) attributes.CustomUserData = userData;
        const existing = [...this.endpoints.values()].find(
          (e) => e.application === appArn && e.attributes.Token === token,
        );
        if (existing) {
          // Idempotent for the same token and attributes; a refusal that names the endpoint otherwise.
          // SNS compares only the attributes given: a disabled endpoint comes back as it is, still disabled.
          const same = Object.entries(attributes).every(([k, v]) => existing.attributes[k] === v);
          if (!same) {
            throw invalid(
              `Token Reason: Endpoint ${existing.arn} already exists with the same Token, but different attributes.`,
            );
          }
          return xml(action, `<EndpointArn>${existing.arn}</EndpointArn>`);
        }
        const arn = `arn:aws:sns:${this.core.region}:${this.core.account}:endpoint/${app.platform}/${app.name}/${randomUUID()}`;
        this.endpoints.set(arn, { arn, application: appArn, attributes: { Enabled: 'true', ...attributes } });
        return xml(action, `<EndpointArn>${arn}</EndpointArn>`);
      }
      case 'SetEndpointAttributes': {
        const arn = params.get('EndpointArn') ?? '';
        await check(arn);
        const ep = endpoint(arn);
        ep.attributes = { ...ep.attributes, ...map('Attributes') };
        return xml(action, '');
      }
      case 'GetEndpointAttributes': {
        const arn = params.get('EndpointArn') ?? '';
        await check(arn);
        return xml(action, entries(endpoint(arn).attributes));
      }
      case 'DeleteEndpoint': {
        const arn = params.get('EndpointArn') ?? '';
        await check(arn);
        this.endpoints.delete(arn);
        return xml(action, '');
      }
      case 'Publish': {
        const phone = params.get('PhoneNumber');
        if (phone !== undefined && phone !== null) return this.#text(action, phone, params, messageAttributes, check);
        const target = params.get('TargetArn') ?? params.get('TopicArn') ?? '';
        if (!target) throw invalid('TopicArn or TargetArn Reason: no value for required parameter');
        await check(target);
        const ep = endpoint(target);
        if (ep.attributes.Enabled === 'false') throw new AwsError('EndpointDisabled', 'Endpoint is disabled');
        const app = application(ep.application);
        const message = params.get('Message') ?? '';
        let payloadText = message;
        if (params.get('MessageStructure') === 'json') {
          let structured: unknown;
          try {
            structured = JSON.parse(message);
          } catch {
            throw invalid('Message Structure - JSON message body failed to parse');
          }
          if (!isObject(structured) || typeof structured.default !== 'string') {
            throw invalid('Message Structure - No default entry in JSON message body');
          }
          const own = structured[app.platform];
          if (own !== undefined && typeof own !== 'string')
            throw invalid(`Message Reason: the ${app.platform} entry must be a string of JSON`);
          payloadText = typeof own === 'string' ? own : structured.default;
        }
        const payload =
          app.platform === 'GCM' ? checkFcmPayload(payloadText) : checkApnsPayload(payloadText, messageAttributes);
        for (const name of Object.keys(messageAttributes)) {
          if (
            name.startsWith('AWS.SNS.MOBILE.') &&
            !/^AWS\.SNS\.MOBILE\.(APNS|APNS_SANDBOX|FCM|GCM)\.(TTL|PUSH_TYPE|PRIORITY|COLLAPSE_ID)$/.test(name)
          ) {
            throw invalid(`MessageAttributes Reason: unknown reserved attribute ${name}`);
          }
          if (/\.TTL$/.test(name) && !/^\d+$/.test(messageAttributes[name]!))
            throw invalid(`MessageAttributes Reason: ${name} must be a number of seconds`);
        }
        const messageId = randomUUID();
        this.deliveries.push({
          endpointArn: ep.arn,
          platform: app.platform,
          payload,
          attributes: messageAttributes,
          at: this.core.clock.now(),
        });
        return xml(action, `<MessageId>${messageId}</MessageId>`);
      }
      default:
        throw new AwsError('InvalidAction', `harness: SNS ${action} is not implemented`);
    }
  }

  async #text(
    action: string,
    phone: string,
    params: Map<string, string> | URLSearchParams,
    attributes: Record<string, string>,
    check: (resource: string) => Promise<void>,
  ): Promise<FakeResponse> {
    await check('*');
    if (!/^\+[1-9]\d{1,14}$/.test(phone)) throw invalid('PhoneNumber Reason: input incorrectly formatted');
    const message = params.get('Message') ?? '';
    if (!message || message.length > 1600) throw invalid('Message Reason: must be 1 to 1600 characters');
    const type = attributes['AWS.SNS.SMS.SMSType'];
    if (type !== undefined && type !== 'Transactional' && type !== 'Promotional') {
      throw invalid('MessageAttributes Reason: AWS.SNS.SMS.SMSType must be Transactional or Promotional');
    }
    const sender = attributes['AWS.SNS.SMS.SenderID'];
    if (sender !== undefined && !/^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$/.test(sender)) {
      throw invalid('MessageAttributes Reason: AWS.SNS.SMS.SenderID must be 1 to 11 letters and digits');
    }
    if (this.smsSandbox && !this.verifiedPhones.has(phone)) {
      throw invalid('PhoneNumber Reason: the destination is not verified in the SMS sandbox');
    }
    this.texts.push({ phoneNumber: phone, message, attributes, at: this.core.clock.now() });
    return xml(action, `<MessageId>${randomUUID()}</MessageId>`);
  }

  async stop(): Promise<void> {
    await this.endpoint?.close();
  }
}
