/**
 * Gemini CLI (`@google/gemini-cli`). It reads GEMINI_API_KEY (sent as `x-goog-api-key`) and
 * GOOGLE_GEMINI_BASE_URL (gemini-cli 0.61's content generator), so the runtime's bridge and a
 * placeholder go there; GOOGLE_API_KEY is taken as the key too. The home seeding trusts the
 * workspace (`~/.gemini/trustedFolders.json`), picks API-key sign-in when a key is given, and
 * turns off the update check and usage statistics (`~/.gemini/settings.json`, merged).
 */
import path from 'node:path';
import type { AgentDefinition, AgentHomeContext } from './agent.js';
import { asObject, mergeJson } from './agent-files.js';

export const gemini: AgentDefinition = {
  name: 'gemini',
  title: 'Gemini CLI',
  command: () => ['gemini', '--yolo'],
  continueCommand: (command) => [...command, '--resume', 'latest'],
  // Its chats, by project: what `gemini --resume latest` reads.
  stateDir: '.gemini/tmp',
  model: {
    defaultUrl: 'https://generativelanguage.googleapis.com',
    baseUrlSecret: 'GOOGLE_GEMINI_BASE_URL',
    baseUrlEnv: 'GOOGLE_GEMINI_BASE_URL',
    credentials: [
      { secret: 'GEMINI_API_KEY', slot: 'apiKey', header: 'x-goog-api-key', bearer: false },
      // The same kind of key under Google's other name: the CLI itself reads GEMINI_API_KEY.
      { secret: 'GOOGLE_API_KEY', slot: 'authToken', header: 'x-goog-api-key', bearer: false, placeholderIn: 'GEMINI_API_KEY' },
    ],
    hosts: ['generativelanguage.googleapis.com'],
    otherSignIns: ['GOOGLE_GENAI_USE_VERTEXAI', 'GOOGLE_GENAI_USE_GCA'],
  },
  seedHome: seedGeminiHome,
};

export async function seedGeminiHome({ home, workspace, env }: AgentHomeContext): Promise<void> {
  const dir = path.join(home, '.gemini');
  await mergeJson(path.join(dir, 'trustedFolders.json'), (trusted) => {
    trusted[workspace] = 'TRUST_FOLDER';
  });
  await mergeJson(path.join(dir, 'settings.json'), (settings) => {
    const general = asObject(settings.general);
    settings.general = { ...general, enableAutoUpdate: false, enableAutoUpdateNotification: false };
    settings.privacy = { ...asObject(settings.privacy), usageStatisticsEnabled: false };
    if (env.GEMINI_API_KEY) {
      const security = asObject(settings.security);
      security.auth = { ...asObject(security.auth), selectedType: 'gemini-api-key' };
      settings.security = security;
    }
  });
}
