/** Gemini CLI beside Claude Code (issue 25): the scenario of ./agent-session.ts with the real Gemini CLI. */
import { startFakeGemini } from '../helpers/fake-gemini.js';
import { describeAgentSession } from './agent-session.js';

const KEY = 'AIza-e2e-REAL-gemini-key-held-by-catty-node-25';

describeAgentSession({
  agent: 'gemini',
  keySecret: 'GEMINI_API_KEY',
  baseUrlSecret: 'GOOGLE_GEMINI_BASE_URL',
  key: KEY,
  startFake: startFakeGemini,
  route: /^POST \/v1beta\/models\/[^/]+:(streamGenerateContent|generateContent)$/,
  keyOf: (headers) => (typeof headers['x-goog-api-key'] === 'string' ? headers['x-goog-api-key'] : null),
  ready: /Gemini CLI v\d+\.\d+\.\d+[\s\S]*Type your message/,
  dialogs: /Do you trust|Trust folder|Get started|How would you like to authenticate|Login with Google|Update available|usage statistics/i,
});
