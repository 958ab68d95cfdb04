/**
 * How the proxy turns a name into addresses. The proxy resolves every name itself (nothing
 * inside a sandbox has DNS), decides on all the addresses it got, and connects only to one of
 * those: never to the name, so nothing is resolved again between the check and the connection
 * (a rebinding name cannot answer differently the second time).
 *
 * A small interface so tests can map `evil.example` → 127.0.0.1 without a DNS server.
 */
import dns from 'node:dns';

export interface Resolver {
  /** Every address `name` has (IPv4 and IPv6, the system's order). Rejects when it has none. */
  lookup(name: string): Promise<string[]>;
}

/** More than this many addresses for one name are ignored (bounds the work per request). */
const MAX_ADDRESSES = 16;

/**
 * The system resolver (getaddrinfo through node:dns, so /etc/hosts and nsswitch apply), with a
 * deadline. getaddrinfo runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says
 * otherwise) and cannot be cancelled: a caller that gives up at the deadline does not free the
 * thread. Hence {@link limitConcurrency} per session, so one session's slow names cannot take
 * the whole pool from the others (and from the process's file system calls).
 */
export function systemResolver(options: { timeoutMs: number }): Resolver {
  return {
    lookup: (name) =>
      withDeadline(
        dns.promises.lookup(name, { all: true, verbatim: true }).then((found) => found.slice(0, MAX_ADDRESSES).map((a) => a.address)),
        options.timeoutMs,
        () => Object.assign(new Error(`resolving ${name} took more than ${options.timeoutMs} ms`), { code: 'ETIMEOUT' }),
      ),
  };
}

/** A resolver that answers from a table (tests; an unknown name is ENOTFOUND, as in DNS). */
export function staticResolver(table: Record<string, string[]>): Resolver {
  return {
    async lookup(name) {
      const found = table[name];
      if (!found || found.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
      return [...found];
    },
  };
}

/** At most `limit` lookups of `resolver` at once through the returned one; the rest wait in turn.
 * A slot is held until the lookup itself settles, deadline or not (see systemResolver). */
export function limitConcurrency(resolver: Resolver, limit: number): Resolver {
  let running = 0;
  const waiting: (() => void)[] = [];
  // A finished lookup hands its slot straight to the next waiting one, so no newcomer can slip
  // in between and run one more than `limit`.
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return {
    async lookup(name) {
      if (running < limit) running++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      const pending = Promise.resolve().then(() => resolver.lookup(name));
      pending.then(release, release);
      return pending;
    },
  };
}

function withDeadline<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
