/**
 * Security case 55 (issue 21, item 8): ordinary zips are accepted, read as Info-ZIP's unzip reads
 * them, while the hostile ones of cases 1–8 stay refused. Each archive is made by a real tool
 * here (python3 zipfile's writestr and write, Info-ZIP zip, 7-Zip, jar when a JDK is installed)
 * or laid out as macOS's Archive Utility and Windows writers lay them out, and POSTed to the
 * built catty-session. Names that merely start with `..`, and a name of 80 CJK characters
 * (240 bytes), are uploaded and come back through sync-back.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { leavesRoot, resolveInside } from '../../session-runtime/wire/safe-path.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, sha256, syncedState, upload, type RuntimeProcess } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const CJK = '漢'.repeat(80);
/** The names a project may hold that a `startsWith('..')` test took for an escape. */
const DOTTED = ['..prettierrc-old', '...', 'a/..b/c.txt', '..d/x'];

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Every file under `root` (relative POSIX path → content, and whether it is executable). */
function tree(root: string): Map<string, { data: string; exec: boolean }> {
  const out = new Map<string, { data: string; exec: boolean }>();
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir)) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) walk(abs, r);
      else out.set(r, { data: fs.readFileSync(abs, 'utf8'), exec: (st.mode & 0o100) !== 0 });
    }
  };
  walk(root, '');
  return out;
}

/** A project on disk: `files` (path → content), `exec` the ones made executable. */
function project(files: Record<string, string>, exec: string[] = []): string {
  const dir = tempDir('interop-src');
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  }
  for (const rel of exec) fs.chmodSync(path.join(dir, rel), 0o755);
  return dir;
}

function python(script: string, ...args: string[]): void {
  execFileSync('python3', ['-c', script, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function uploadOk(rt: RuntimeProcess, zip: Buffer): Promise<void> {
  const res = await upload(rt, zip);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
}

const FILES = { 'src/main.py': 'print("hi")\n', 'run.sh': '#!/bin/sh\necho run\n', [CJK]: 'cjk\n', ...Object.fromEntries(DOTTED.map((n) => [n, `${n}\n`])) };
const expected = (exec: boolean) =>
  new Map(Object.entries(FILES).map(([rel, data]) => [rel, { data, exec: exec && rel === 'run.sh' }]));

describe('55: ordinary zips are accepted (issue 21, item 8)', () => {
  it("55: python3 zipfile's writestr (mode 0o600, no file-type bits) — files, directories by their slash, dotted and CJK names", async ({ startRuntime }) => {
    const rt = await startRuntime();
    const out = path.join(tempDir('interop'), 'w.zip');
    python(
      `import sys, zipfile, json
files = json.loads(sys.argv[2])
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for name, data in files.items(): z.writestr(name, data)
    z.writestr('big.txt', ''.join(f'line {i}\\n' for i in range(200000)))
    z.writestr('empty-dir/', '')`,
      out,
      JSON.stringify(FILES),
    );
    // The bytes say what this case is about: made on Unix, 0o600 with no S_IFREG (first entry).
    const zip = fs.readFileSync(out);
    const central = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    expect(zip.readUInt16LE(central + 4) >> 8).toBe(3);
    expect(zip.readUInt32LE(central + 38) >>> 16).toBe(0o600);
    await uploadOk(rt, zip);
    const got = tree(rt.workspace);
    expect(got.get('big.txt')?.data.split('\n')[199999]).toBe('line 199999');
    got.delete('big.txt');
    expect(got).toEqual(expected(false));
    expect(fs.statSync(path.join(rt.workspace, 'empty-dir')).isDirectory()).toBe(true);
  });

  it('55: python3 zipfile.write, Info-ZIP zip, 7-Zip and jar of one project — the exec bit kept where the tool records it', async ({ startRuntime }) => {
    const src = project(FILES, ['run.sh']);
    const work = tempDir('interop');
    const names = Object.keys(FILES);
    const makers: [string, boolean, () => void][] = [
      ['python write', true, () => python(`import sys, zipfile, os\nos.chdir(sys.argv[2])\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    for n in sys.argv[3:]: z.write(n)`, path.join(work, 'python.zip'), src, ...names)],
      ['zip', true, () => execFileSync('zip', ['-q', '-r', path.join(work, 'zip.zip'), '.'], { cwd: src })],
      ['7z', true, () => execFileSync('7z', ['a', '-tzip', '-bd', path.join(work, '7z.zip'), '.'], { cwd: src, stdio: 'ignore' })],
      // jar writes data descriptors (ZipOutputStream): the streaming path's described entries.
      ['jar', false, () => execFileSync('jar', ['--create', '--no-manifest', '--file', path.join(work, 'jar.zip'), '.'], { cwd: src })],
    ];
    const tools: Record<string, string> = { 'python write': 'python3', zip: 'zip', '7z': '7z', jar: 'jar' };
    for (const [name, keepsExec, make] of makers) {
      if (!has(tools[name]!)) {
        console.log(`55: ${name}: ${tools[name]} is not installed here; skipped`);
        continue;
      }
      make();
      const rt = await startRuntime();
      await uploadOk(rt, fs.readFileSync(path.join(work, `${name.split(' ')[0]}.zip`)));
      expect(tree(rt.workspace), name).toEqual(expected(keepsExec));
      await rt.stop();
    }
  });

  it("55: macOS Archive Utility's __MACOSX/ and ._* AppleDouble entries are skipped, the rest extracted", async ({ startRuntime }) => {
    const rt = await startRuntime();
    const appleDouble = Buffer.concat([Buffer.from([0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00]), Buffer.alloc(74)]);
    const zip = buildZip([
      { name: 'proj/', mode: 0o040755 },
      { name: 'proj/a.txt', data: 'a\n', mode: 0o100644 },
      { name: '__MACOSX/', mode: 0o040755 },
      { name: '__MACOSX/proj/', mode: 0o040755 },
      { name: '__MACOSX/proj/._a.txt', data: appleDouble, mode: 0o100644 },
      { name: 'proj/._b.txt', data: appleDouble, mode: 0o100644 },
      { name: '._proj', data: appleDouble, mode: 0o100644 },
    ]);
    await uploadOk(rt, zip);
    expect(tree(rt.workspace)).toEqual(new Map([['proj/a.txt', { data: 'a\n', exec: false }]]));
    expect(fs.readdirSync(rt.workspace)).toEqual(['proj']);
  });

  it('55: backslashes separate directories in a Windows-made zip; in a Unix-made one they are refused', async ({ startRuntime }) => {
    const out = path.join(tempDir('interop'), 'win.zip');
    python(
      `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for name, data in [('src\\\\', ''), ('src\\\\main.c', 'int main;\\n'), ('docs\\\\a\\\\b.md', '# b\\n')]:
        zi = zipfile.ZipInfo(name)
        zi.create_system = 0
        zi.external_attr = 0x10 if name.endswith('\\\\') else 0x20
        z.writestr(zi, data)`,
      out,
    );
    const rt = await startRuntime();
    await uploadOk(rt, fs.readFileSync(out));
    expect(tree(rt.workspace)).toEqual(new Map([['src/main.c', { data: 'int main;\n', exec: false }], ['docs/a/b.md', { data: '# b\n', exec: false }]]));
    // The same names made on Unix: a backslash is a character there, which a laptop on Windows
    // would take for a separator — refused, as are Windows-made escapes.
    for (const [name, mode] of [['src\\main.c', 0o100644], ['..\\..\\x', undefined], ['C:\\x', undefined]] as const) {
      const refusing = await startRuntime();
      const res = await upload(refusing, buildZip([{ name, data: 'x', ...(mode ? { mode } : {}) }]));
      expect(res.status, name).toBe(400);
      expect((res.json as { error: { code: string } }).error.code, name).toBe('unsafe_path');
      expect(fs.readdirSync(refusing.workspace)).toEqual([]);
      await refusing.stop();
    }
  });

  it('55: a name that merely starts with ".." is inside; ".." as a whole segment is not', () => {
    for (const name of DOTTED) {
      expect(leavesRoot(name), name).toBe(false);
      expect(resolveInside('/workspace', name), name).toBe(`/workspace/${name}`);
    }
    for (const back of ['..', '../x', '../..', '/etc', '..\\x']) expect(leavesRoot(back), back).toBe(true);
  });

  it('55: dotted names and the 80-character CJK name come back through sync-back', async ({ startRuntime }) => {
    const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agentCmd('echo.mjs') } });
    const c = new TestClient(rt);
    await c.opened;
    c.control({ type: 'sync_back', enabled: true });
    const names = [...DOTTED, `deep/${CJK}`];
    // Written into the workspace as the agent would (the runtime watches it, whoever writes).
    for (const [i, name] of names.entries()) {
      fs.mkdirSync(path.dirname(path.join(rt.workspace, name)), { recursive: true });
      fs.writeFileSync(path.join(rt.workspace, name), `v${i}`);
    }
    await waitFor(() => names.every((n) => syncedState(c).files.has(n)), 'every name synced back');
    for (const [i, name] of names.entries()) expect(syncedState(c).files.get(name)?.sha256, name).toBe(sha256(`v${i}`));
  });
});
