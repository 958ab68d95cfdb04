/**
 * A browser at one loopback address signing in on the /device page: the page's CSRF cookie,
 * then form posts to /device/login over a keep-alive agent bound to `from` (so the API sees that
 * address). For the sign-in throttle's tests, directly or through a proxy at `base`.
 */
import http from 'node:http';

export interface SignInAnswer {
  status: number;
  ms: number;
}

export interface SignInClient {
  /** One sign-in; `headers` are added (e.g. a forged X-Forwarded-For). */
  login(email: string, password: string, headers?: Record<string, string>): Promise<SignInAnswer>;
  close(): void;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export async function signInClient(base: string, from: string, maxSockets = 16): Promise<SignInClient> {
  const agent = new http.Agent({ keepAlive: true, maxSockets, localAddress: from });
  const request = (method: string, pathname: string, headers: Record<string, string>, body = ''): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${base}${pathname}`, { method, agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const page = await request('GET', '/device', {});
  if (page.status !== 200) throw new Error(`GET /device answered ${page.status} through ${base}`);
  const cookie = (page.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
  return {
    async login(email, password, headers = {}) {
      const started = performance.now();
      const form = new URLSearchParams({ email, password, csrf, code: '' }).toString();
      const res = await request('POST', '/device/login', { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers }, form);
      return { status: res.status, ms: performance.now() - started };
    },
    close: () => agent.destroy(),
  };
}
