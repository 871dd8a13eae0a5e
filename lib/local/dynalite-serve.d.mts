/** A store request as the transport sends it (lib/local/worker-transport.ts). */
export interface StoreRequest {
  id: number;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

/** A store answer: what dynalite's HTTP response would carry. */
export interface StoreAnswer {
  id: number;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Serves one request with dynalite's 'request' listener; `reply` gets the answer once dynalite ends its response. */
export function serveRequest(
  handleRequest: (req: unknown, res: unknown) => void,
  request: StoreRequest,
  reply: (answer: StoreAnswer) => void,
): void;
