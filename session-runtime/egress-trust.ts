/**
 * The session CA of `--inject` (issue 20, item 5), as the agent's TLS clients need it. The egress
 * proxy writes its certificate beside its socket (EGRESS_CA_NAME, in the directory bound
 * read-only into the machine) when the session has inject rules; Node takes it as it is
 * (NODE_EXTRA_CA_CERTS adds to its roots), but OpenSSL's clients (curl, git, Python, pip) take one
 * file for all their roots — so the runtime writes the machine's own bundle with the CA after it
 * into the agent's home. The CA's key never comes here: only its certificate.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { EGRESS_CA_NAME } from './wire/runtime-env.js';

/** Where distributions keep the system's trusted certificates (Debian/Ubuntu/Alpine, Fedora/RHEL, others). */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

export interface EgressTrust {
  caFile: string;
  caBundle: string;
}

/** null when the session has no CA (no inject rules). */
export async function prepareEgressTrust(egressSocket: string, agentHome: string): Promise<EgressTrust | null> {
  const caFile = path.join(path.dirname(egressSocket), EGRESS_CA_NAME);
  let ca: string;
  try {
    ca = await fs.readFile(caFile, 'utf8');
  } catch {
    return null;
  }
  const system = await firstReadable(SYSTEM_BUNDLES);
  const dir = path.join(agentHome, '.config', 'catty');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const caBundle = path.join(dir, 'ca-bundle.pem');
  // No system bundle in the machine: Node's own roots stand in for it.
  await fs.writeFile(caBundle, `${(system ?? tls.rootCertificates.join('\n')).trimEnd()}\n${ca}`, { mode: 0o644 });
  return { caFile, caBundle };
}

async function firstReadable(files: readonly string[]): Promise<string | null> {
  for (const file of files) {
    try {
      return await fs.readFile(file, 'utf8');
    } catch {
      // the next one
    }
  }
  return null;
}
