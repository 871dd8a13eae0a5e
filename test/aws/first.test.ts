import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsShape } from './cloud.ts';
import { pushSecrets } from './fixtures.ts';
import { bundledAssembly } from './synth.ts';

let cloud: AwsShape;
beforeAll(async () => {
  cloud = await AwsShape.start({ assembly: await bundledAssembly(), secrets: pushSecrets() });
}, 300_000);
afterAll(() => cloud?.stop());

describe('first', () => {
  it('deploys and serves discovery', async () => {
    const res = await fetch(`${cloud.baseUrl}/acme/.well-known/openid-configuration`);
    console.log(res.status, (await res.text()).slice(0, 300));
    console.log(cloud.lambda.logs.slice(0, 20));
    expect(res.status).toBe(200);
  });
});
