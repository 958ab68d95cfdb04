/**
 * A session's own certificate authority, for `--inject` (injector.ts): the proxy ends TLS for an
 * inject host with a leaf certificate this CA signs, so it can add the header to each request
 * inside. Made when the session's listener opens (only when it has inject rules), its private key
 * kept in this process's memory and nowhere else; its certificate is what the machine trusts
 * (ca.pem in the session's egress directory, bound read-only into it; the runtime points the
 * agent's NODE_EXTRA_CA_CERTS, SSL_CERT_FILE and the like at it).
 *
 * Name-constrained to the inject hosts (RFC 5280 §4.2.1.10, critical): even a leaf it signed for
 * another host would not be trusted by a client that checks constraints (OpenSSL, Node, Go).
 * RSA 2048 (node-forge signs RSA only; node:crypto makes the keys, natively): the CA key and one
 * leaf key per session, a leaf per host made on first use and kept.
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { parseIp } from '../../session-runtime/wire/ip-address.js';

const generateRsa = promisify(generateKeyPair);
const VALID_MS = 365 * 24 * 3600_000;

export interface SessionCa {
  /** The CA certificate (PEM): what the machine trusts. */
  readonly certPem: string;
  /** A certificate for `host` (a name or an IP) and its key, PEM. */
  leafFor(host: string): { cert: string; key: string };
}

async function rsaKeyPair(): Promise<{ privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey }> {
  const { privateKey } = await generateRsa('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function serial(): string {
  // Positive (high bit clear), 16 random bytes.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate): void {
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + VALID_MS);
}

/** `hosts` (normalised names and IPs): the only ones its leaves may be for. */
export async function createSessionCa(sessionId: string, hosts: readonly string[]): Promise<SessionCa> {
  const [caKeys, leafKeys] = await Promise.all([rsaKeyPair(), rsaKeyPair()]);
  const issuer = [
    { name: 'commonName', value: `catty session ${sessionId.slice(0, 12)} egress CA` },
    { name: 'organizationName', value: 'catty' },
  ];
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  validity(ca);
  ca.setSubject(issuer);
  ca.setIssuer(issuer);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { id: '2.5.29.30', critical: true, value: nameConstraints(hosts) },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(ca);
  const leafKeyPem = forge.pki.privateKeyToPem(leafKeys.privateKey);

  const leaves = new Map<string, { cert: string; key: string }>();
  return {
    certPem,
    leafFor(host) {
      const known = leaves.get(host);
      if (known) return known;
      const leaf = forge.pki.createCertificate();
      leaf.publicKey = leafKeys.publicKey;
      leaf.serialNumber = serial();
      validity(leaf);
      leaf.setSubject([{ name: 'commonName', value: host.slice(0, 64) }]);
      leaf.setIssuer(ca.subject.attributes);
      leaf.setExtensions([
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [net.isIP(host) ? { type: 7, ip: host } : { type: 2, value: host }] },
        { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
      ]);
      leaf.sign(caKeys.privateKey, forge.md.sha256.create());
      const made = { cert: forge.pki.certificateToPem(leaf), key: leafKeyPem };
      leaves.set(host, made);
      return made;
    },
  };
}

/** NameConstraints with permittedSubtrees: a dNSName per name, an iPAddress (/32 or /128) per IP. */
function nameConstraints(hosts: readonly string[]): forge.asn1.Asn1 {
  const { asn1 } = forge;
  const subtrees = hosts.map((host) => {
    const base = net.isIP(host)
      ? asn1.create(asn1.Class.CONTEXT_SPECIFIC, 7, false, addressAndMask(host))
      : asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, host);
    return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [base]);
  });
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, subtrees)]);
}

/** The address's bytes then an all-ones mask, as a byte string (forge's form). */
function addressAndMask(ip: string): string {
  const bytes = Buffer.from(parseIp(ip) ?? []);
  return Buffer.concat([bytes, Buffer.alloc(bytes.length, 0xff)]).toString('binary');
}
