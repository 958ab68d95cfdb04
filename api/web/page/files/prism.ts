/**
 * Prism's core and the grammars the files view highlights, nothing more (each grammar costs bundle
 * bytes: the list is the languages a workspace usually holds). Prism's components are scripts
 * that extend the global `Prism`, so the order of these imports matters: ./prism-manual first
 * (no automatic highlighting), the core, then each grammar after the ones it extends.
 */
import './prism-manual.js';
import 'prismjs/components/prism-core.js';
import 'prismjs/components/prism-markup.js';
import 'prismjs/components/prism-css.js';
import 'prismjs/components/prism-clike.js';
import 'prismjs/components/prism-javascript.js';
import 'prismjs/components/prism-typescript.js';
import 'prismjs/components/prism-jsx.js';
import 'prismjs/components/prism-tsx.js';
import 'prismjs/components/prism-json.js';
import 'prismjs/components/prism-python.js';
import 'prismjs/components/prism-bash.js';
import 'prismjs/components/prism-go.js';
import 'prismjs/components/prism-rust.js';
import 'prismjs/components/prism-yaml.js';
import 'prismjs/components/prism-markdown.js';
import 'prismjs/components/prism-c.js';
import 'prismjs/components/prism-cpp.js';
import 'prismjs/components/prism-java.js';
import 'prismjs/components/prism-ruby.js';
import 'prismjs/components/prism-sql.js';
import 'prismjs/components/prism-toml.js';
import 'prismjs/components/prism-docker.js';
import 'prismjs/components/prism-diff.js';
import 'prismjs/components/prism-ini.js';
import 'prismjs/components/prism-makefile.js';
import type * as PrismApi from 'prismjs';

/** The global Prism the core installed (its components extend it; there is no module export). */
export const prism = (globalThis as unknown as { Prism: typeof PrismApi }).Prism;
