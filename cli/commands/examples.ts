/**
 * The Examples section of `--help`: for the program and the commands people use most, one table,
 * so the examples stay alike (and README's command table can be checked against them).
 */
import type { Command } from 'commander';

type Example = readonly [command: string, what: string];

export const EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  '': [
    ['catty secrets set ANTHROPIC_API_KEY', "once: Claude Code's key"],
    ['catty new', 'Claude Code on this directory (Ctrl-] detaches)'],
    ['catty ls', 'your sessions'],
    ['catty connect brave-otter-1234', 'attach again'],
    ['catty download brave-otter-1234', 'its files, even after it stopped'],
  ],
  new: [
    ['catty new', 'Claude Code on this directory'],
    ['catty new --agent shell', 'a shell instead'],
    ['catty new --detach --ttl 2h', 'start it, print its label, stop after 2 h idle'],
    ["catty new --cmd 'npm test' --no-sync-back", 'run a command, keep the local files as they are'],
    ['catty new --allow api.example.com,*.corp.example:8443', 'reach these too, beyond the trusted hosts'],
    ['catty new --net none', 'no network at all'],
  ],
  logs: [
    ['catty logs brave-otter-1234', 'its last terminal output'],
    ['catty logs brave-otter-1234 --net', 'the requests its network policy refused'],
  ],
  open: [
    ['catty open', 'your sessions in the browser, signed in for you'],
    ['catty open brave-otter-1234', 'its terminal and the files the agent changed'],
    ['catty open --print-url', 'the one-time link, for a phone or a headless machine'],
  ],
  share: [
    ['catty share brave-otter-1234', 'a read-only link for an hour: terminal and files'],
    ['catty share brave-otter-1234 --ttl 2d', 'for two days'],
    ['catty share brave-otter-1234 --revoke', 'every link to it stops working now'],
  ],
  connect: [
    ['catty connect', 'pick one of the running sessions'],
    ['catty connect brave-otter-1234', 'attach by label'],
    ['catty connect brave-otter-1234 --detach-key ctrl-x', 'when Ctrl-] is taken'],
  ],
  resume: [
    ['catty resume brave-otter-1234', 'a new machine from its latest snapshot; attach to it'],
    ['catty resume brave-otter-1234 --detach', 'start it again, do not attach'],
    ['catty resume brave-otter-1234 --snapshot previous', 'from the snapshot before the latest'],
  ],
  fork: [
    ['catty fork brave-otter-1234 --label try-2', 'a second attempt from its latest snapshot'],
    ['git diff catty/brave-otter-1234/main catty/try-2/main', 'compare what the two committed'],
  ],
  git: [
    ['catty git brave-otter-1234', "the agent's commits, now, as catty/brave-otter-1234/<branch>"],
    ['git log catty/brave-otter-1234/main', 'read them; your own branches stay as they are'],
  ],
  download: [
    ['catty download brave-otter-1234', 'into ./brave-otter-1234'],
    ['catty download brave-otter-1234 ~/recovered', 'into a directory of your choice'],
    ['catty download brave-otter-1234 --format tar.gz', 'the archive itself: ./brave-otter-1234.tar.gz'],
  ],
  'secrets set': [
    ['catty secrets set ANTHROPIC_API_KEY', 'type it, hidden'],
    ['printf %s "$GH_TOKEN" | catty secrets set GH_TOKEN', 'from a pipe'],
  ],
  login: [
    ['catty login --api https://catty.example.com', 'a shared control plane (device code in the browser)'],
    ['catty logout', 'back to the local control plane, which needs no login'],
  ],
};

export function examplesText(examples: readonly Example[]): string {
  const width = Math.max(...examples.map(([command]) => command.length));
  return `\nExamples:\n${examples.map(([command, what]) => `  $ ${command.padEnd(width)}  # ${what}`).join('\n')}`;
}

/** Adds each command's examples to its help (`path`: names from the program down, '' for it). */
export function addExamples(program: Command): void {
  for (const [path, examples] of Object.entries(EXAMPLES)) {
    let command: Command | undefined = program;
    for (const name of path.split(' ').filter(Boolean)) command = command?.commands.find((c) => c.name() === name);
    if (!command) throw new Error(`examples for a command that does not exist: ${path}`);
    command.addHelpText('after', examplesText(examples));
  }
}
