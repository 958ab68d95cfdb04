/** Codex beside Claude Code (issue 25): the scenario of ./agent-session.ts with the real Codex. */
import { startFakeOpenAi } from '../helpers/fake-openai.js';
import { describeAgentSession } from './agent-session.js';

const KEY = 'sk-proj-e2e-REAL-openai-key-held-by-catty-node-25';

describeAgentSession({
  agent: 'codex',
  keySecret: 'OPENAI_API_KEY',
  baseUrlSecret: 'OPENAI_BASE_URL',
  key: KEY,
  startFake: startFakeOpenAi,
  route: /^POST \/responses$/,
  keyOf: (headers) => (typeof headers.authorization === 'string' ? headers.authorization.replace(/^Bearer /, '') : null),
  ready: /OpenAI Codex \(v\d+\.\d+\.\d+\)[\s\S]*permissions: YOLO mode/,
  dialogs: /Sign in with ChatGPT|Provide your own API key|Do you trust|trust the files|Update available|Welcome to Codex|Select a model|approval/i,
});
