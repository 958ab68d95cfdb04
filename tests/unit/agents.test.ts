/**
 * The agent modules (session-runtime/wire/agent-*.ts, issue 25) and what the API, the runtime and
 * the CLI build from them: each agent's command and how it continues, the secrets that go to the
 * proxy and the placeholders the agent gets, its home seeding (real files in a temp home), the
 * trusted preset holding its hosts, the runtime's CATTY_AGENT and CATTY_MODEL_ROUTE.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentCommand, restartCommand } from '../../api/services/agent-cmd.js';
import { splitSecrets } from '../../api/services/session-credentials.js';
import { modelAuthHeaders } from '../../api/egress/injector.js';
import { egressAgentEnv, MODEL_PLACEHOLDER } from '../../session-runtime/agent-env.js';
import { agentStateDir, seedAgentHome } from '../../session-runtime/agent-home.js';
import { ConfigError, loadConfig } from '../../session-runtime/config.js';
import { AGENT_NAMES, agentByName, agentList, PLACEHOLDER_VARIABLES } from '../../session-runtime/wire/agents.js';
import { codexConfig } from '../../session-runtime/wire/agent-codex.js';
import { TRUSTED_HOSTS } from '../../session-runtime/wire/network-presets.js';
import { RuntimeEnv } from '../../session-runtime/wire/runtime-env.js';
import { tempDir } from '../helpers/temp-dir.js';

const NONE = { preset: 'none' as const, allow: [] };
const readJson = (file: string): Record<string, unknown> => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;

describe('the agents and their commands', () => {
  it('lists claude, codex, gemini and shell, each started in its skip-permissions mode', () => {
    expect(AGENT_NAMES).toEqual(['claude', 'codex', 'gemini', 'shell']);
    expect(agentList()).toBe('claude, codex, gemini or shell');
    expect(agentCommand('claude', undefined)).toEqual(['claude', '--dangerously-skip-permissions']);
    expect(agentCommand('codex', undefined)).toEqual(['codex', '--dangerously-bypass-approvals-and-sandbox']);
    expect(agentCommand('gemini', undefined)).toEqual(['gemini', '--yolo']);
    expect(agentCommand('gemini', 'make test')).toEqual(['sh', '-c', 'make test']);
  });

  it('continues its newest conversation on resume only when the snapshot brought it back, never for --cmd or a shell', () => {
    expect(restartCommand('claude', null, true)).toEqual(['claude', '--dangerously-skip-permissions', '--continue']);
    expect(restartCommand('codex', null, true)).toEqual(['codex', 'resume', '--last', '--dangerously-bypass-approvals-and-sandbox']);
    expect(restartCommand('gemini', null, true)).toEqual(['gemini', '--yolo', '--resume', 'latest']);
    expect(restartCommand('codex', null, false)).toEqual(['codex', '--dangerously-bypass-approvals-and-sandbox']);
    expect(restartCommand('gemini', 'make', true)).toEqual(['sh', '-c', 'make']);
    expect(restartCommand('shell', null, true)[0]).toMatch(/^(bash|sh)$/);
  });

  it('every model API host is in the trusted preset', () => {
    for (const name of AGENT_NAMES) for (const host of agentByName(name).model?.hosts ?? []) expect(TRUSTED_HOSTS, `${name}: ${host}`).toContain(host);
    expect(PLACEHOLDER_VARIABLES).toEqual(['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN', 'OPENAI_API_KEY', 'GEMINI_API_KEY']);
  });
});

describe('which secrets go to the proxy, per agent', () => {
  const secrets = { ANTHROPIC_API_KEY: 'sk-ant', OPENAI_API_KEY: 'sk-oai', OPENAI_BASE_URL: 'https://gw.example/v1', GEMINI_API_KEY: 'AIza', GOOGLE_GEMINI_BASE_URL: 'https://g.example', OTHER: 'x' };

  it('Codex: OPENAI_API_KEY and OPENAI_BASE_URL; the other agents\' keys stay plain environment', () => {
    const split = splitSecrets({ secrets }, NONE, 'codex');
    expect(split.credentials.model).toEqual({ agent: 'codex', apiKey: 'sk-oai', baseUrl: 'https://gw.example/v1' });
    expect(split.modelRoute).toEqual(['OPENAI_API_KEY']);
    expect(split.agentEnv).toEqual({ ANTHROPIC_API_KEY: 'sk-ant', GEMINI_API_KEY: 'AIza', GOOGLE_GEMINI_BASE_URL: 'https://g.example', OTHER: 'x' });
    expect(split.agent).toBe('codex');
  });

  it('Gemini: GEMINI_API_KEY or GOOGLE_API_KEY, the agent\'s placeholder always in GEMINI_API_KEY', () => {
    expect(splitSecrets({ secrets }, NONE, 'gemini')).toMatchObject({ credentials: { model: { agent: 'gemini', apiKey: 'AIza', baseUrl: 'https://g.example' } }, modelRoute: ['GEMINI_API_KEY'] });
    const google = splitSecrets({ secrets: { GOOGLE_API_KEY: 'AIza-g' } }, NONE, 'gemini');
    expect(google).toMatchObject({ agentEnv: {}, credentials: { model: { agent: 'gemini', authToken: 'AIza-g' } }, modelRoute: ['GEMINI_API_KEY'] });
  });

  it('Claude as before (no agent field, so an older catty-node reads it); a shell keeps Claude\'s keys out too', () => {
    for (const agent of ['claude', 'shell'] as const) {
      const split = splitSecrets({ secrets }, NONE, agent);
      expect(split.credentials.model).toEqual({ apiKey: 'sk-ant' });
      expect(split.modelRoute).toEqual(['ANTHROPIC_API_KEY']);
      expect(split.agentEnv.OPENAI_API_KEY).toBe('sk-oai');
    }
  });

  it('a base URL the proxy cannot use is refused naming its secret', () => {
    expect(() => splitSecrets({ secrets: { OPENAI_BASE_URL: 'ftp://x' } }, NONE, 'codex')).toThrow(/OPENAI_BASE_URL secret cannot be used/);
  });

  it('the key goes in the agent\'s header; Claude keeps its preference (the client\'s kind first)', () => {
    expect(modelAuthHeaders({ agent: 'codex', apiKey: 'k' }, new Set(['x-api-key']))).toEqual({ authorization: 'Bearer k' });
    expect(modelAuthHeaders({ agent: 'gemini', apiKey: 'k' }, new Set(['authorization']))).toEqual({ 'x-goog-api-key': 'k' });
    expect(modelAuthHeaders({ apiKey: 'k', oauthToken: 'o', authToken: 't' }, new Set(['authorization', 'x-api-key']))).toEqual({ authorization: 'Bearer t' });
    expect(modelAuthHeaders({ apiKey: 'k', oauthToken: 'o' }, new Set(['x-api-key']))).toEqual({ 'x-api-key': 'k' });
    expect(modelAuthHeaders({ oauthToken: 'o' }, new Set())).toEqual({ authorization: 'Bearer o' });
  });
});

describe('the runtime: CATTY_AGENT, CATTY_MODEL_ROUTE and the agent\'s variables', () => {
  const base = { [RuntimeEnv.connectToken]: 't' };

  it('reads the agent (default claude, and its command) and refuses an unknown one', () => {
    expect(loadConfig(base)).toMatchObject({ agent: 'claude', agentCmd: ['claude', '--dangerously-skip-permissions'] });
    expect(loadConfig({ ...base, [RuntimeEnv.agent]: 'codex' })).toMatchObject({ agent: 'codex', agentCmd: ['codex', '--dangerously-bypass-approvals-and-sandbox'] });
    expect(() => loadConfig({ ...base, [RuntimeEnv.agent]: 'vim' })).toThrow(ConfigError);
  });

  it('gives placeholders only in the agent\'s own credential variables, and its base URL the bridge', () => {
    const gemini = loadConfig({ ...base, [RuntimeEnv.agent]: 'gemini', [RuntimeEnv.modelRoute]: '["GEMINI_API_KEY"]' });
    expect(egressAgentEnv({ bridgeUrl: 'http://127.0.0.1:9', modelRoute: gemini.modelRoute, caFile: null, caBundle: null })).toEqual({ GOOGLE_GEMINI_BASE_URL: 'http://127.0.0.1:9', GEMINI_API_KEY: MODEL_PLACEHOLDER });
    const codex = loadConfig({ ...base, [RuntimeEnv.agent]: 'codex', [RuntimeEnv.modelRoute]: '["OPENAI_API_KEY"]' });
    expect(egressAgentEnv({ bridgeUrl: 'http://127.0.0.1:9', modelRoute: codex.modelRoute, caFile: null, caBundle: null })).toEqual({ OPENAI_API_KEY: MODEL_PLACEHOLDER });
    expect(() => loadConfig({ ...base, [RuntimeEnv.agent]: 'codex', [RuntimeEnv.modelRoute]: '["PATH"]' })).toThrow(/not one of the codex agent's/);
    expect(() => loadConfig({ ...base, [RuntimeEnv.agent]: 'codex', [RuntimeEnv.modelRoute]: '["ANTHROPIC_API_KEY"]' })).toThrow(ConfigError);
  });
});

describe('home seeding: each opens at its prompt', () => {
  const workspace = '/workspace';

  it('Codex: its own provider at the bridge with the key from OPENAI_API_KEY, WebSockets off, the workspace trusted, no update check or analytics', async () => {
    const home = tempDir('seed-codex');
    const config = loadConfig({ [RuntimeEnv.connectToken]: 't', [RuntimeEnv.agent]: 'codex', [RuntimeEnv.modelRoute]: '["OPENAI_API_KEY"]', [RuntimeEnv.workspace]: workspace });
    await seedAgentHome(config, home, { OPENAI_API_KEY: MODEL_PLACEHOLDER }, 'http://127.0.0.1:4242');
    const text = fs.readFileSync(path.join(home, '.codex', 'config.toml'), 'utf8');
    expect(text).toContain('model_provider = "catty"');
    expect(text).toContain('base_url = "http://127.0.0.1:4242"');
    expect(text).toContain('env_key = "OPENAI_API_KEY"');
    expect(text).toContain('supports_websockets = false');
    expect(text).toContain('[projects."/workspace"]\ntrust_level = "trusted"');
    expect(text).toContain('check_for_update_on_startup = false');
    expect(text).toContain('[features]\ndaemon_auto_start = false');
    expect(fs.statSync(path.join(home, '.codex', 'config.toml')).mode & 0o777).toBe(0o600);
    expect(agentStateDir(config, home)).toBe(path.join(home, '.codex', 'sessions'));
  });

  it('Codex without a key keeps its own provider (its sign-in screen is then right); without the proxy the user\'s base URL', () => {
    expect(codexConfig({ workspace, env: {}, modelBridgeUrl: null })).not.toContain('model_provider');
    expect(codexConfig({ workspace, env: { OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'https://gw.example/v1' }, modelBridgeUrl: null })).toContain('base_url = "https://gw.example/v1"');
    expect(codexConfig({ workspace: '/w"s', env: {}, modelBridgeUrl: null })).toContain('[projects."/w\\"s"]');
  });

  it('Gemini: the workspace trusted, API-key sign-in when a key is given, no update check or statistics; the user\'s other settings kept', async () => {
    const home = tempDir('seed-gemini');
    fs.mkdirSync(path.join(home, '.gemini'));
    fs.writeFileSync(path.join(home, '.gemini', 'settings.json'), JSON.stringify({ ui: { theme: 'Dracula' }, general: { vimMode: true } }));
    const config = loadConfig({ [RuntimeEnv.connectToken]: 't', [RuntimeEnv.agent]: 'gemini', [RuntimeEnv.workspace]: workspace });
    await seedAgentHome(config, home, { GEMINI_API_KEY: MODEL_PLACEHOLDER }, null);
    expect(readJson(path.join(home, '.gemini', 'trustedFolders.json'))).toEqual({ '/workspace': 'TRUST_FOLDER' });
    expect(readJson(path.join(home, '.gemini', 'settings.json'))).toEqual({
      ui: { theme: 'Dracula' },
      general: { vimMode: true, enableAutoUpdate: false, enableAutoUpdateNotification: false },
      privacy: { usageStatisticsEnabled: false },
      security: { auth: { selectedType: 'gemini-api-key' } },
    });
    const keyless = tempDir('seed-gemini-keyless');
    await seedAgentHome(config, keyless, {}, null);
    expect(readJson(path.join(keyless, '.gemini', 'settings.json')).security).toBeUndefined();
  });

  it('Claude Code as before: onboarding done, the workspace trusted, bypass mode accepted, the placeholder key approved; a shell\'s home too', async () => {
    for (const agent of ['claude', 'shell']) {
      const home = tempDir(`seed-${agent}`);
      const config = loadConfig({ [RuntimeEnv.connectToken]: 't', [RuntimeEnv.agent]: agent, [RuntimeEnv.workspace]: workspace });
      await seedAgentHome(config, home, { ANTHROPIC_API_KEY: MODEL_PLACEHOLDER }, null);
      const claudeJson = readJson(path.join(home, '.claude.json'));
      expect(claudeJson).toMatchObject({ hasCompletedOnboarding: true, bypassPermissionsModeAccepted: true, projects: { '/workspace': { hasTrustDialogAccepted: true } }, customApiKeyResponses: { approved: [MODEL_PLACEHOLDER.slice(-20)] } });
      expect(readJson(path.join(home, '.claude', 'settings.json'))).toEqual({ permissions: { defaultMode: 'bypassPermissions' }, skipDangerousModePermissionPrompt: true });
    }
  });
});
