import { GuardedOutboundHttp } from '../../http/outbound.ts';

export const outbound = () => new GuardedOutboundHttp();
