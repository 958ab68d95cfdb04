/** The local provisioner on its own, with and without bubblewrap, spawning real runtimes. */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/logger.js';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { LAUNCHER_WAITING_LINE } from '../../session-runtime/wire/runtime-env.js';
import { LocalProvisioner } from '../../api/provisioners/local.js';
import type { Machine, MachineSpec } from '../../api/provisioners/types.js';
import { killMachines } from '../helpers/api.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

/** A data dir for a provisioner; whatever machines it still runs are killed after the test. */
function dataDirFor(): string {
  const dataDir = tempDir('prov');
  onCleanup(() => killMachines(dataDir));
  return dataDir;
}

const bwrap = findBwrap();
/** Whether this kernel schedules sessions as groups (CONFIG_SCHED_AUTOGROUP). */
const autogroups = existsSync('/proc/self/autogroup');
const modes = [['none', true], ['bwrap', bwrap !== null && bwrapProblem(bwrap) === null]] as const;

/** A process whose command line has this argument (bwrap's binds name the machine's dirs). */
function processWithArg(arg: string): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(arg)) return Number(name);
    } catch {
      // gone
    }
  }
  return null;
}

/** Where the API reaches a machine's runtime: its socket in the machine's own directory. */
const endpoint = (machine: Machine) => ({ url: machine.runtimeUrl, socketPath: machine.runtimeSocket });

function spec(sessionId: string): MachineSpec {
  return {
    sessionId,
    ownerId: 'u1',
    label: 'calm-otter-0001',
    connectToken: `cat_ct_${randomBytes(8).toString('hex')}`,
    machineToken: `cat_mt_${randomBytes(8).toString('hex')}`,
    // nothing listens there: callbacks fail, which the runtime must survive
    apiUrl: 'http://127.0.0.1:9',
    agentCmd: ['sh', '-c', 'echo "ws=$(pwd)"; sleep 600'],
    agentEnv: {},
    upload: false,
  };
}

describe.each(modes)('local provisioner (sandbox: %s)', (mode, available) => {
  it.skipIf(!available)('starts a detached runtime, tracks it in machine.json, lists it, stops it and removes its workspace', async () => {
    const dataDir = dataDirFor();
    const provisioner = new LocalProvisioner({ dataDir, logger: silentLogger(), sandbox: mode });
    expect(provisioner.sandboxed).toBe(mode === 'bwrap');
    const s = spec(randomBytes(6).toString('hex'));
    const machine = await provisioner.start(s);
    expect(machine.machineId).toBe(s.sessionId);
    // The runtime listens on a Unix socket in the machine's own 0700 run directory, not on TCP.
    expect(machine.runtimeSocket).toBe(join(dataDir, 'machines', s.sessionId, 'run', 'runtime.sock'));
    expect(statSync(join(dataDir, 'machines', s.sessionId, 'run')).mode & 0o777).toBe(0o700);
    expect(lstatSync(machine.runtimeSocket!).isSocket()).toBe(true);
    const health = await runtimeFetch(endpoint(machine), '/healthz');
    expect(health.status).toBe(200);
    const logs = await runtimeFetch(endpoint(machine), '/logs', { headers: { authorization: `Bearer ${s.connectToken}` } });
    expect(logs.status).toBe(200);
    expect(await provisioner.isAlive(machine.machineId)).toBe(true);
    // a second provisioner (a restarted API) finds it from disk
    const again = new LocalProvisioner({ dataDir, logger: silentLogger(), sandbox: mode });
    expect(await again.list()).toEqual([{ machineId: s.sessionId, sessionId: s.sessionId, runtimeUrl: machine.runtimeUrl, runtimeSocket: machine.runtimeSocket, alive: true }]);
    const started = Date.now();
    await again.stop(machine.machineId, { graceMs: 10_000 });
    // SIGTERM is enough: the runtime exits well before the grace ends
    expect(Date.now() - started).toBeLessThan(8000);
    expect(await provisioner.isAlive(machine.machineId)).toBe(false);
    expect(existsSync(join(dataDir, 'machines', s.sessionId, 'workspace'))).toBe(false);
    expect(await provisioner.list()).toEqual([]);
    await expect(runtimeFetch(endpoint(machine), '/healthz')).rejects.toThrow();
    expect(existsSync(join(dataDir, 'machines', s.sessionId, 'run'))).toBe(false);
    // idempotent
    await again.stop(machine.machineId, { graceMs: 1000 });
  });

  it.skipIf(!available)('runs the runtime and its agent at the configured niceness, their scheduling groups too', async () => {
    const dataDir = dataDirFor();
    const provisioner = new LocalProvisioner({ dataDir, logger: silentLogger(), sandbox: mode, nice: 7 });
    // The agent is a session leader (its PTY's), so a group of its own where the kernel has
    // autogroups: it waits (bounded) for the runtime to nice that group, then reports.
    const agent = 'for i in $(seq 100); do grep -qs "nice 7" /proc/self/autogroup && break; sleep 0.05; done; echo "agent-nice=$(nice) group=$(cat /proc/self/autogroup 2>/dev/null)"; sleep 600';
    const s = { ...spec(randomBytes(6).toString('hex')), agentCmd: ['sh', '-c', agent] };
    const machine = await provisioner.start(s);
    const record = JSON.parse(readFileSync(join(dataDir, 'machines', s.sessionId, 'machine.json'), 'utf8')) as { runtimePid: number };
    // /proc/<pid>/stat: the 19th field is the niceness (fields counted after the command's ')').
    const runtimeNice = Number(readFileSync(`/proc/${record.runtimePid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    expect(runtimeNice).toBe(7);
    const text = await waitFor(async () => {
      const logs = await (await runtimeFetch(endpoint(machine), '/logs', { headers: { authorization: `Bearer ${s.connectToken}` } })).text();
      return logs.includes('agent-nice=') && logs;
    }, "the agent's niceness in its log", { timeoutMs: 10_000, everyMs: 50 });
    expect(text).toContain('agent-nice=7');
    if (autogroups) {
      expect(text).toMatch(/group=\/autogroup-\d+ nice 7/);
      const runtimeGroup = readFileSync(`/proc/${record.runtimePid}/autogroup`, 'utf8');
      expect(runtimeGroup).toMatch(/nice 7/);
      // Each is a group apart from this process's (the control plane's, the user's).
      expect(runtimeGroup).not.toBe(readFileSync('/proc/self/autogroup', 'utf8'));
    }
    await provisioner.stop(machine.machineId, { graceMs: 5_000 });
  });

  it.skipIf(!available)('a runtime that cannot start fails fast with its log tail, and leaves nothing running', async () => {
    const dataDir = dataDirFor();
    const provisioner = new LocalProvisioner({ dataDir, logger: silentLogger(), sandbox: mode });
    const bad = { ...spec(randomBytes(6).toString('hex')), connectToken: '' };
    await expect(provisioner.start(bad)).rejects.toThrow(/exited before it was ready: .*CATTY_CONNECT_TOKEN/);
    expect(await provisioner.list()).toEqual([]);
  });

  it.skipIf(!available || mode !== 'bwrap')('keeps a machine started ahead (from prepare(), then after each start): the next start takes it, with its own settings; an unused one leaves with close() or a restarted API', async () => {
    const dataDir = dataDirFor();
    const provisioner = new LocalProvisioner({ dataDir, logger: silentLogger(), sandbox: mode, spare: true });
    const machinesDir = join(dataDir, 'machines');
    const waitingLine = (name: string): boolean => readFileSync(join(machinesDir, name, 'runtime.log'), 'utf8').includes(LAUNCHER_WAITING_LINE);
    /** The spare's directory and its launcher's (bwrap's) pid, once it runs (and waits for a session). */
    const waitForSpare = ({ waiting = true } = {}): Promise<{ dir: string; pid: number }> =>
      waitFor(() => {
        const name = existsSync(machinesDir) ? readdirSync(machinesDir).find((n) => n.startsWith('spare-')) : undefined;
        const pid = name ? processWithArg(join(machinesDir, name, 'workspace')) : null;
        return name && pid && (!waiting || waitingLine(name)) ? { dir: name, pid } : null;
      }, 'a spare machine', { timeoutMs: 10_000, everyMs: 10 });
    // prepare() (the API calls it once it listens) readies one for the very first start, which
    // takes it even while it is still starting.
    const first = spec(randomBytes(6).toString('hex'));
    provisioner.prepare({ apiUrl: first.apiUrl, runtimeEnv: first.runtimeEnv });
    const early = await waitForSpare({ waiting: false });
    const startedEarly = !waitingLine(early.dir);
    await provisioner.start(first);
    const firstRecord = JSON.parse(readFileSync(join(machinesDir, first.sessionId, 'machine.json'), 'utf8')) as { pid: number };
    expect(firstRecord.pid).toBe(early.pid);
    expect(startedEarly).toBe(true); // (else this did not test the wait)
    const spare = await waitForSpare();

    const s = { ...spec(randomBytes(6).toString('hex')), agentCmd: ['sh', '-c', 'echo "ws=$(pwd) mine=$SPARE_TEST_MARK"; sleep 600'], agentEnv: { SPARE_TEST_MARK: 'second' } };
    const machine = await provisioner.start(s);
    expect(machine.machineId).toBe(s.sessionId);
    const record = JSON.parse(readFileSync(join(machinesDir, s.sessionId, 'machine.json'), 'utf8')) as { pid: number };
    expect(record.pid).toBe(spare.pid);
    expect(existsSync(join(machinesDir, spare.dir))).toBe(false);
    expect(existsSync(join(machinesDir, s.sessionId, 'spare'))).toBe(false);
    // The session's own token and agent settings reached it; the first session's token does not work.
    // Its socket is in the directory as renamed: bwrap bound the run directory, not its path.
    expect(machine.runtimeSocket).toBe(join(machinesDir, s.sessionId, 'run', 'runtime.sock'));
    const logs = (token: string): Promise<Response> => runtimeFetch(endpoint(machine), '/logs', { headers: { authorization: `Bearer ${token}` } });
    expect((await logs(first.connectToken)).status).toBe(401);
    const text = await waitFor(async () => {
      const tail = await (await logs(s.connectToken)).text();
      return tail.includes('mine=') && tail;
    }, "the agent's settings in its log", { timeoutMs: 5_000, everyMs: 50 });
    expect(text).toContain('ws=/workspace mine=second');
    expect((await provisioner.list()).map((m) => m.machineId).sort()).toEqual([first.sessionId, s.sessionId].sort());

    // A restarted API (a second provisioner on the same data) removes a spare it did not start...
    const next = await waitForSpare();
    const restarted = new LocalProvisioner({ dataDir, logger: silentLogger(), sandbox: mode, spare: true });
    expect(existsSync(join(machinesDir, next.dir))).toBe(false);
    await restarted.close();
    // ...and close() lets the spare's launcher go: it exits on its empty stdin.
    await provisioner.close();
    await waitFor(() => processWithArg(join(machinesDir, next.dir, 'workspace')) === null, "the spare's launcher to exit", { timeoutMs: 5_000, everyMs: 50 });
    expect(processWithArg(join(machinesDir, next.dir, 'workspace'))).toBeNull();
    await provisioner.stop(first.sessionId, { graceMs: 5_000 });
    await provisioner.stop(s.sessionId, { graceMs: 5_000 });
  });

  it('refuses machine ids that are not plain names', async () => {
    const dataDir = dataDirFor();
    const provisioner = new LocalProvisioner({ dataDir, logger: silentLogger(), sandbox: 'none' });
    await expect(provisioner.stop('../../etc', { graceMs: 0 })).rejects.toThrow(/invalid machine id/);
  });
});
