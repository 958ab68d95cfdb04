// A zip of path → content, for the soak's uploads (archiver, the CLI's own zip writer).
import { PassThrough } from 'node:stream';
import { ZipArchive } from 'archiver';

export async function zipOf(files) {
  const archive = new ZipArchive({ zlib: { level: 1 } });
  const sink = new PassThrough();
  const chunks = [];
  sink.on('data', (c) => chunks.push(c));
  const done = new Promise((resolve, reject) => {
    sink.on('end', resolve);
    archive.on('error', reject);
  });
  archive.pipe(sink);
  for (const [name, data] of files) archive.append(data, { name });
  await archive.finalize();
  await done;
  return Buffer.concat(chunks);
}
