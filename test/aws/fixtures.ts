import { generateKeyPairSync } from 'node:crypto';

/**
 * The secrets a platform team creates before deploying test/fixtures/infra-tenants.json (docs/deploy.md step 3):
 * APNs token credentials, an FCM service account, a Web Push VAPID key pair. Fresh keys, never real credentials.
 */
export const pushSecrets = (): Record<string, string> => {
  const pem = (kind: 'ec' | 'rsa') =>
    (kind === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 })
    ).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const vapid = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(vapid.x!, 'base64url'),
    Buffer.from(vapid.y!, 'base64url'),
  ]);
  return {
    'ciba/acme/apns': JSON.stringify({
      signing_key: pem('ec'),
      key_id: 'ABC123DEFG',
      team_id: 'TEAM123456',
      bundle_id: 'com.acme.authenticator',
    }),
    'ciba/acme/fcm': JSON.stringify({
      type: 'service_account',
      project_id: 'acme-authenticator',
      private_key_id: 'k1',
      private_key: pem('rsa'),
      client_email: 'sns@acme-authenticator.iam.gserviceaccount.com',
    }),
    'ciba/acme/webpush': JSON.stringify({ publicKey: point.toString('base64url'), privateKey: vapid.d }),
  };
};
