/**
 * `catty-node certs --out DIR --ca-dir DIR [--node ADDR]… [--api]`: the cluster's certificates
 * (docs/cluster.md). A CA made once in --ca-dir (ca.pem, ca-key.pem; kept, reused by later
 * runs — keep it offline), then for each --node ADDR `<out>/nodes/<ADDR>/` (ca.pem, node.pem
 * with ADDR as its IP or DNS name, node-key.pem: that node's --tls-dir) and with --api
 * `<out>/api/` (ca.pem, api.pem, api-key.pem: the API's CATTY_NODE_TLS_DIR). Every file 0600,
 * every directory 0700. Keys are RSA 2048 made by node's crypto; node-forge writes the X.509.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';
import { API_CLIENT_CN } from './contract.js';

const CA_YEARS = 10;
const LEAF_YEARS = 2;
const USAGE = 'usage: catty-node certs --out DIR --ca-dir DIR [--node ADDR]... [--api]';

interface Issued {
  certPem: string;
  keyPem: string;
}

interface Ca {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
  certPem: string;
}

function newKey(): { pem: string; forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { pem: privateKey, forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function newCert(publicKey: forge.pki.PublicKey, cn: string, years: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive (high bit clear), 16 random bytes.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = new Date(Date.now() + years * 365 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: cn }, { name: 'organizationName', value: 'catty' }]);
  return cert;
}

function writePrivate(dir: string, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  for (const [name, text] of Object.entries(files)) {
    const file = join(dir, name);
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  }
}

/** The CA in `dir`, made when it is not there yet. */
export function loadOrCreateCa(dir: string): Ca {
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca-key.pem');
  if (fs.existsSync(certFile) && fs.existsSync(keyFile)) {
    const certPem = fs.readFileSync(certFile, 'utf8');
    return { cert: forge.pki.certificateFromPem(certPem), key: forge.pki.privateKeyFromPem(fs.readFileSync(keyFile, 'utf8')) as forge.pki.rsa.PrivateKey, certPem };
  }
  const key = newKey();
  const cert = newCert(key.publicKey, 'catty cluster CA', CA_YEARS);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true, pathLenConstraint: 0 },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  writePrivate(dir, { 'ca.pem': certPem, 'ca-key.pem': key.pem });
  return { cert, key: key.forgeKey, certPem };
}

/** A leaf signed by `ca`: a node's (serverAuth, `addresses` in its SAN) or the API's (clientAuth). */
export function issue(ca: Ca, role: { node: string[] } | 'api'): Issued {
  const key = newKey();
  const cert = newCert(key.publicKey, role === 'api' ? API_CLIENT_CN : 'catty-node', LEAF_YEARS);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    role === 'api' ? { name: 'extKeyUsage', clientAuth: true } : { name: 'extKeyUsage', serverAuth: true },
    ...(role === 'api' ? [] : [{ name: 'subjectAltName', altNames: role.node.map((a) => (isIP(a) ? { type: 7, ip: a } : { type: 2, value: a })) }]),
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem };
}

/** A host name or an IP address: what may name a directory and a SAN entry. */
const ADDRESS = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9a-fA-F:.]+)$/;

export function runCerts(argv: string[], log: (line: string) => void): void {
  let out: string | undefined;
  let caDir: string | undefined;
  const nodes: string[] = [];
  let api = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--api') {
      api = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(USAGE);
    if (flag === '--out') out = value;
    else if (flag === '--ca-dir') caDir = value;
    else if (flag === '--node') nodes.push(value);
    else throw new Error(`${USAGE} (not ${JSON.stringify(flag)})`);
  }
  if (!out || !caDir) throw new Error(USAGE);
  if (nodes.length === 0 && !api) throw new Error(`${USAGE}: name at least one --node or --api`);
  for (const node of nodes) if (!ADDRESS.test(node) || (node.includes(':') && isIP(node) !== 6)) throw new Error(`--node ${JSON.stringify(node)} is neither a host name nor an IP address`);
  const ca = loadOrCreateCa(caDir);
  for (const node of nodes) {
    const issued = issue(ca, { node: [node] });
    const dir = join(out, 'nodes', node);
    writePrivate(dir, { 'ca.pem': ca.certPem, 'node.pem': issued.certPem, 'node-key.pem': issued.keyPem });
    log(`node ${node}: ${dir} (catty-node --tls-dir)`);
  }
  if (api) {
    const issued = issue(ca, 'api');
    const dir = join(out, 'api');
    writePrivate(dir, { 'ca.pem': ca.certPem, 'api.pem': issued.certPem, 'api-key.pem': issued.keyPem });
    log(`api: ${dir} (CATTY_NODE_TLS_DIR)`);
  }
}
