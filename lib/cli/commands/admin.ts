import type { CliContext } from '../context.ts';
import { adminAuthorizer, adminUrl, type Globals } from '../globals.ts';
import { request } from '../http.ts';

/** The admin API under `/admin/tenants/{tenant}`, authenticated by bearer token or SigV4. */
export const adminApi = (ctx: CliContext, g: Globals) => {
  const call = async <T>(method: string, segments: string[], json?: unknown): Promise<T> =>
    request<T>(ctx, adminUrl(g, ...segments), {
      method,
      ...(json !== undefined ? { json } : {}),
      auth: await adminAuthorizer(g, ctx),
    });
  return {
    get: <T = Record<string, unknown>>(...segments: string[]) => call<T>('GET', segments),
    put: <T = Record<string, unknown>>(segments: string[], body: unknown) => call<T>('PUT', segments, body),
    post: <T = Record<string, unknown>>(segments: string[], body: unknown) => call<T>('POST', segments, body),
    delete: (...segments: string[]) => call<unknown>('DELETE', segments),
  };
};
