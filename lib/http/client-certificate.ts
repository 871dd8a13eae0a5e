import { certificateFromPem, type PresentedCertificate } from '../oauth/mtls.ts';
import type { HttpEvent } from './event.ts';

/**
 * The client certificate of this request, from the TLS layer only: API Gateway's mutual-TLS context in AWS, the
 * local HTTPS listener locally (which fills the same field). A certificate in a request header
 * (X-SSL-Client-Cert, X-Amzn-Mtls-Clientcert...) is never read: any client can send one (RFC 9700 §4.13).
 */
export const presentedCertificate = (event: HttpEvent): PresentedCertificate | undefined =>
  certificateFromPem(event.requestContext?.authentication?.clientCert?.clientCertPem);
