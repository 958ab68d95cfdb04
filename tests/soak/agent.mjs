// The soak agent: a shell loop (the shell runs inside the sandbox; the repo's fixtures do not) that
// prints a deterministic record stream and writes, rewrites and deletes files on a schedule,
// then prints END| and idles. `expected*` compute exactly what it produces.
export const RECORDS_PER_TICK = 40;
export const TICKS_PER_FILE = 20;
export const FILES_KEPT = 5;
export const END_MARK = 'END|';

/** The agent command (POSIX sh: the API runs it with sh -c) for session `sid`, `ticks` ticks
 * (~0.1 s each). `printf` repeats its format for every number `seq` gives: one record each. */
export function agentScript(sid, ticks) {
  return [
    'cd /workspace; mkdir -p out; n=0; t=0',
    `while [ $t -lt ${ticks} ]; do`,
    `  printf '%015d|' $(seq $n $((n+${RECORDS_PER_TICK - 1}))); n=$((n+${RECORDS_PER_TICK}))`,
    `  if [ $((t % ${TICKS_PER_FILE})) -eq 0 ]; then f=$((t/${TICKS_PER_FILE})); printf 'session ${sid} file %d\\n' $f > out/f$f.txt; printf '%d\\n' $t > counter.txt;`,
    `    if [ $f -ge ${FILES_KEPT} ]; then rm -f out/f$((f-${FILES_KEPT})).txt; fi; fi`,
    '  t=$((t+1)); sleep 0.1',
    'done',
    `printf '${END_MARK}'; exec sleep 100000`,
  ].join('\n');
}

/** `length` bytes of the expected output from `offset` (the records, then END|). */
export function expectedSlice(ticks, offset, length) {
  const records = ticks * RECORDS_PER_TICK;
  const total = records * 16 + END_MARK.length;
  const end = Math.min(total, offset + length);
  const first = Math.min(Math.floor(offset / 16), records);
  let s = '';
  for (let rec = first; rec * 16 < end && rec < records; rec++) s += String(rec).padStart(15, '0') + '|';
  if (end > records * 16) s += END_MARK;
  const base = first * 16;
  return Buffer.from(s, 'latin1').subarray(offset - base, end - base);
}

export function expectedOutputBytes(ticks) {
  return ticks * RECORDS_PER_TICK * 16 + END_MARK.length;
}

/** path → content of what the agent leaves in the workspace (plus the uploaded files). */
export function expectedFiles(sid, ticks) {
  const files = new Map();
  const count = Math.ceil(ticks / TICKS_PER_FILE);
  for (let f = Math.max(0, count - FILES_KEPT); f < count; f++) files.set(`out/f${f}.txt`, `session ${sid} file ${f}\n`);
  files.set('counter.txt', `${(count - 1) * TICKS_PER_FILE}\n`);
  return files;
}
