import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Template } from './cloudformation.ts';
import { documentedTable, permissionTable } from './permission-table.ts';
import { variantAssembly } from './synth.ts';

describe("the deploy guide's permission table", () => {
  it('is what the synthesized template grants (npm run docs:permissions rewrites it)', async () => {
    const dir = await variantAssembly({ 'ciba:tenants': 'test/fixtures/infra-tenants.json' });
    const template = JSON.parse(readFileSync(join(dir, 'ciba-service.template.json'), 'utf8')) as Template;
    expect(documentedTable()).toBe(permissionTable(template));
  }, 120_000);
});
