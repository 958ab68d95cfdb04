/**
 * Security case 56 (issue 21, item 9): the compression-ratio cap holds while an entry streams,
 * also when its sizes come only after its data (a data descriptor). A ~200 KiB zip of 200 MiB of
 * zeros, written by python3's zipfile to a pipe (as any producer writing to a stream does: flag
 * bit 3, signed descriptors), is POSTed to the built catty-session with an upload cap far above
 * 200 MiB; the bytes the runtime process wrote (`wchar` of /proc/<pid>/io: the spooled upload,
 * the workspace, its logs) are measured across the upload.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect } from 'vitest';
import { RATIO_MIN_BYTES } from '../../session-runtime/upload/zip-plan.js';
import { test as it } from '../helpers/fixtures.js';
import { upload } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1024 * 1024;

/** Bytes the process has passed to write(2) and the like so far. */
function bytesWritten(pid: number): number {
  return Number(/^wchar: (\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
}

/** A zip of `mib` MiB of zeros per entry, written by python3 zipfile to a pipe (data descriptors). */
function pythonStreamedZip(entries: string[], mib: number): Buffer {
  return execFileSync(
    'python3',
    [
      '-c',
      `import sys, zipfile
z = zipfile.ZipFile(sys.stdout.buffer, 'w', zipfile.ZIP_DEFLATED)
z.writestr('README.md', '# hello\\n')
for name in sys.argv[2:]:
    with z.open(name, 'w') as f:
        for _ in range(int(sys.argv[1])): f.write(bytes(1024 * 1024))
z.close()`,
      String(mib),
      ...entries,
    ],
    { maxBuffer: 64 * MiB },
  );
}

describe('56: the ratio cap while streaming (issue 21, item 9)', () => {
  it('56: a data-descriptor bomb is refused after about RATIO_MIN_BYTES written, not after its 200 MiB', async ({ startRuntime }) => {
    const zip = pythonStreamedZip(['zeros.bin'], 200);
    // What the case is about: small on the wire, the sizes only in descriptors after the data.
    expect(zip.length).toBeLessThan(400 * 1024);
    const local = zip.indexOf(Buffer.from('PK\x03\x04', 'latin1'), 1);
    expect(zip.readUInt16LE(local + 6) & 0x08).toBe(0x08);
    expect(zip.readUInt32LE(local + 22)).toBe(0);

    const rt = await startRuntime({ env: { CATTY_MAX_UPLOAD_BYTES: String(1024 * MiB) } });
    const pid = rt.proc.pid as number;
    const before = bytesWritten(pid);
    const res = await upload(rt, zip);
    const written = bytesWritten(pid) - before;
    expect(res.status, JSON.stringify(res.json)).toBe(400);
    expect((res.json as { error: { code: string } }).error.code).toBe('zip_bomb');
    console.log(`56: ${zip.length} bytes uploaded; the runtime wrote ${written} bytes before refusing it`);
    // The spooled upload, the entry up to the cap (RATIO_MIN_BYTES and one inflated chunk), the logs.
    expect(written).toBeLessThan(zip.length + RATIO_MIN_BYTES + 2 * MiB);
    expect(fs.readdirSync(rt.workspace)).toEqual([]);
  });

  it('56: the same producer within the cap streams through (an honest described entry is not refused)', async ({ startRuntime }) => {
    const text = execFileSync(
      'python3',
      [
        '-c',
      `import sys, zipfile
z = zipfile.ZipFile(sys.stdout.buffer, 'w', zipfile.ZIP_DEFLATED)
with z.open('log.txt', 'w') as f:
    for i in range(300000): f.write(f'{i} {i * 7919 % 100003}\\n'.encode())
z.close()`,
      ],
      { maxBuffer: 64 * MiB },
    );
    const rt = await startRuntime();
    const res = await upload(rt, text);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(fs.readFileSync(`${rt.workspace}/log.txt`, 'utf8').split('\n')[299999]).toBe(`299999 ${(299999 * 7919) % 100003}`);
    // Extracted while it arrived: the runtime's log says the fast path took it.
    const line = await waitFor(() => /upload: .*$/m.exec(rt.stderr())?.[0], 'the upload log line');
    expect(line).toContain('extracted while receiving');
  });
});
