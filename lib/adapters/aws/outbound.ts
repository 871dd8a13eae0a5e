import { GuardedOutboundHttp } from '../guarded-outbound-http.ts';

export const outbound = () => new GuardedOutboundHttp();
