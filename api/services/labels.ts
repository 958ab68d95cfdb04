/** Session labels `adjective-noun-NNNN` from a crypto RNG (≈ 40·40·10⁴ = 16M per owner). */
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'amber', 'brave', 'brisk', 'calm', 'clever', 'cosy', 'crisp', 'dapper', 'eager', 'fancy',
  'fluffy', 'gentle', 'glad', 'golden', 'happy', 'jolly', 'keen', 'lively', 'lucky', 'mellow',
  'merry', 'misty', 'nimble', 'noble', 'plucky', 'polite', 'proud', 'quick', 'quiet', 'rapid',
  'shiny', 'sleek', 'snowy', 'spry', 'sunny', 'swift', 'tidy', 'velvet', 'witty', 'zesty',
];
const NOUNS = [
  'badger', 'bobcat', 'cheetah', 'cougar', 'falcon', 'ferret', 'finch', 'fox', 'gecko', 'heron',
  'ibex', 'jaguar', 'kitten', 'koala', 'lemur', 'leopard', 'lion', 'lynx', 'margay', 'marten',
  'meerkat', 'ocelot', 'otter', 'owl', 'panda', 'panther', 'puma', 'quokka', 'raven', 'robin',
  'serval', 'sparrow', 'tabby', 'tiger', 'toucan', 'walrus', 'weasel', 'whiskers', 'wombat', 'yak',
];

export const LABEL_PATTERN = /^[a-z]+-[a-z]+-\d{4}$/;

export function randomLabel(): string {
  const n = String(randomInt(10_000)).padStart(4, '0');
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}-${n}`;
}

/** A label `taken` says is free; gives up after `attempts` (an owner with millions of sessions). */
export function uniqueLabel(taken: (label: string) => boolean, attempts = 50): string {
  for (let i = 0; i < attempts; i++) {
    const label = randomLabel();
    if (!taken(label)) return label;
  }
  throw new Error('could not find a free session label');
}
