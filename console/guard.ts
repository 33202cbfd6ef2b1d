/**
 * Who may talk to the console. It holds the power to sign API calls, so only pages it served itself
 * may use it: every request must name the console's own address in `Host` (a DNS-rebinding page names
 * its own domain there), and a call of its API must not come from another page: a browser's `Origin`
 * and `Sec-Fetch-Site`, when sent, must say it comes from the console's own (a cross-site form or
 * fetch says otherwise). Its page and scripts are served to any navigation, a link from elsewhere
 * included: they hold nothing secret.
 */
export interface RequestFacts {
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  /** A call of the console's API (`/api/...`), rather than a request for its page or scripts. */
  api: boolean;
}

export type Verdict = { allowed: true } | { allowed: false; detail: string };

/** The names a browser on this machine may use for a console listening on loopback at `port`. */
export function ownHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`];
}

export function checkRequest(request: RequestFacts, port: number): Verdict {
  const hosts = ownHosts(port);
  const host = request.host?.toLowerCase();
  if (host === undefined || !hosts.includes(host)) {
    return {
      allowed: false,
      detail: `The console answers only requests to ${hosts.map((h) => `http://${h}`).join(' or ')}.`,
    };
  }
  if (!request.api) return { allowed: true };
  if (request.origin !== undefined) {
    const origins = hosts.map((h) => `http://${h}`);
    if (!origins.includes(request.origin.toLowerCase())) {
      return {
        allowed: false,
        detail: 'The console answers only its own pages; this request came from another origin.',
      };
    }
  }
  const site = request.secFetchSite?.toLowerCase();
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return {
      allowed: false,
      detail: 'The console answers only its own pages; this request came from another site.',
    };
  }
  return { allowed: true };
}
