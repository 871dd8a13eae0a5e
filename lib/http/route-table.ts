import { NotFound } from '../errors.ts';
import type { HttpEvent } from './event.ts';
import type { HttpHandler } from './middleware.ts';
import type { FunctionName, RouteKeyOf } from './routes.ts';

/** A function's handlers by route key: exactly the routes lib/http/routes.ts gives the function. */
export type RouteHandlers<F extends FunctionName> = Record<RouteKeyOf<F>, HttpHandler>;

/**
 * Dispatches on the route API Gateway (or the local server, from the same table) matched: `event.routeKey`. Handlers
 * do not route again on strings; a key the table lacks is 404.
 */
export const routeTable =
  <F extends FunctionName>(routes: RouteHandlers<F>): HttpHandler =>
  async (event: HttpEvent) => {
    const handler = Object.hasOwn(routes, event.routeKey) ? routes[event.routeKey as RouteKeyOf<F>] : undefined;
    if (!handler) throw new NotFound('no such route');
    return handler(event);
  };
