/**
 * "Did you mean …?" after an unknown command, only for what looks like a typo of one. Commander's
 * own guess accepts a word 40 % different, so `catty bogus` answered "Did you mean logs?".
 */
import type { Command } from 'commander';

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The one command `word` is a plausible typo or abbreviation of: one edit away (two for names
 * of six letters or more), or the start of exactly one name. Null when none or several fit. */
export function closestCommand(word: string, names: readonly string[]): string | null {
  const lower = word.toLowerCase();
  const scored = names.map((name) => ({ name, distance: editDistance(lower, name) })).filter((s) => s.distance <= (s.name.length >= 6 ? 2 : 1));
  const best = Math.min(...scored.map((s) => s.distance));
  const nearest = scored.filter((s) => s.distance === best);
  if (nearest.length === 1) return nearest[0]!.name;
  const prefixed = lower.length >= 3 ? names.filter((name) => name.startsWith(lower)) : [];
  return prefixed.length === 1 ? prefixed[0]! : null;
}

/** Replaces commander's guess with ours on `command` and every command group below it. */
export function suggestCommands(command: Command): void {
  if (command.commands.length === 0) return;
  command.showSuggestionAfterError(false);
  command.on('command:*', (operands: string[]) => {
    const word = operands[0] ?? '';
    const names = command.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    const guess = closestCommand(word, names);
    command.error(`error: unknown command '${word}'${guess ? `\n(Did you mean ${guess}?)` : ''}`, { code: 'commander.unknownCommand' });
  });
  for (const sub of command.commands) suggestCommands(sub);
}
