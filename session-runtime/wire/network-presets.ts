/**
 * The hosts of the `trusted` network preset (the default of `catty new`), on ports 80 and 443.
 * Explicit names only, no wildcards: each line is a host an agent needs to talk to its model or
 * to install and fetch code, and the README lists the same. None of them counts as "named" by
 * the user: a trusted name that resolves to a private or loopback address is still refused
 * (./network-policy.ts). A leaf of the seam.
 *
 * Data can leave through any of these (a gist, a package publish): `trusted` limits where an
 * agent can reach, it does not make exfiltration impossible. `--net none` does.
 */
export const TRUSTED_HOSTS: readonly string[] = [
  // Model APIs: Claude, OpenAI (Codex), Gemini.
  'api.anthropic.com',
  'api.openai.com',
  'generativelanguage.googleapis.com',

  // npm (tarballs are served from the registry host itself; yarn's name is an alias of it).
  'registry.npmjs.org',
  'registry.yarnpkg.com',
  // PyPI: the index, and the host its files are downloaded from.
  'pypi.org',
  'files.pythonhosted.org',
  // crates.io: the API, the sparse index, and the crate downloads.
  'crates.io',
  'index.crates.io',
  'static.crates.io',
  // Go modules: the module proxy and the checksum database `go` verifies against.
  'proxy.golang.org',
  'sum.golang.org',

  // GitHub: git over HTTPS, the API (gh, releases), archives, raw files, release assets and LFS.
  'github.com',
  'api.github.com',
  'codeload.github.com',
  'raw.githubusercontent.com',
  'objects.githubusercontent.com',
  'release-assets.githubusercontent.com',
  // GitLab and Bitbucket: git over HTTPS and their APIs (same host for both).
  'gitlab.com',
  'bitbucket.org',
  'api.bitbucket.org',
];
