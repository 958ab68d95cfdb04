/**
 * A scripted stand-in for the Gemini API (generativelanguage) on 127.0.0.1:0, as real Gemini
 * CLI (0.61) calls it with GOOGLE_GEMINI_BASE_URL = this server (catty points it at the runtime's
 * bridge; the proxy sends the calls on here): `POST /v1beta/models/M:streamGenerateContent`
 * (server-sent events) for the conversation, `:generateContent` for its helpers (the model
 * router's and the end-of-turn check's JSON verdicts). The conversation's first turn
 * asks it to run `command` (its `run_shell_command` tool); a turn answering a tool call gets
 * text. Anything else gets a 404.
 */
import { json, startFakeModel, type FakeModel } from './fake-model.js';

const reply = (parts: object[]) => ({
  candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
  usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
  modelVersion: 'gemini-fake',
});

/** Whether the newest turn of a request answers a tool call. */
function answersTool(body: string): boolean {
  try {
    const contents = (JSON.parse(body) as { contents?: Array<{ parts?: Array<Record<string, unknown>> }> }).contents ?? [];
    return (contents.at(-1)?.parts ?? []).some((part) => 'functionResponse' in part);
  } catch {
    return false;
  }
}

export function startFakeGemini(command: string, text: (n: number) => string): Promise<FakeModel> {
  let texts = 0;
  return startFakeModel(({ method, path, body }) => {
    const call = /^\/v1beta\/models\/[^/:]+:(streamGenerateContent|generateContent|countTokens)$/.exec(path)?.[1];
    if (method !== 'POST' || !call) return json(404, { error: { code: 404, message: 'not offered by the fake', status: 'NOT_FOUND' } });
    if (call === 'countTokens') return json(200, { totalTokens: 10 });
    // Its helpers ask for JSON: the model router for a verdict (a simple task), the turn's end
    // check for who speaks next (the user).
    if (body.includes('responseJsonSchema')) {
      const verdict = body.includes('next_speaker') ? { reasoning: 'the task is done', next_speaker: 'user' } : { complexity_reasoning: 'a simple task', complexity_score: 10 };
      return json(200, reply([{ text: JSON.stringify(verdict) }]));
    }
    if (call === 'generateContent') return json(200, reply([{ text: text(++texts) }]));
    const parts = answersTool(body) ? [{ text: text(++texts) }] : [{ functionCall: { name: 'run_shell_command', args: { command } } }];
    return { status: 200, type: 'text/event-stream', body: `data: ${JSON.stringify(reply(parts))}\r\n\r\n` };
  });
}
