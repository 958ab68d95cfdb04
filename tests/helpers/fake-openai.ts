/**
 * A scripted stand-in for the OpenAI Responses API on 127.0.0.1:0, as real Codex (0.171) calls it
 * through a model provider whose `base_url` is this server (catty's seeding points it at the
 * runtime's bridge; the proxy sends the calls on here): `POST /responses`, streamed as
 * server-sent events (`response.created`, each output item, `response.completed`). The first
 * turn of a conversation asks Codex to run `command` (its `exec_command` tool); every other
 * answers with text. Anything else gets a 404, which Codex takes as "not offered here".
 */
import { json, startFakeModel, type FakeModel } from './fake-model.js';

const sse = (event: { type: string }): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

function stream(id: string, items: object[]): string {
  const usage = { input_tokens: 10, input_tokens_details: null, output_tokens: 5, output_tokens_details: null, total_tokens: 15 };
  return [sse({ type: 'response.created', response: { id } } as { type: string }), ...items.map((item) => sse({ type: 'response.output_item.done', item } as { type: string })), sse({ type: 'response.completed', response: { id, usage } } as { type: string })].join('');
}

/** `command`: what the first turn runs; `text(n)`: the n-th text answer (from 1). */
export function startFakeOpenAi(command: string, text: (n: number) => string): Promise<FakeModel> {
  let calls = 0;
  let texts = 0;
  return startFakeModel(({ method, path, body }) => {
    if (method !== 'POST' || !path.endsWith('/responses')) return json(404, { error: { message: 'not offered by the fake', type: 'not_found' } });
    const id = `resp_${++calls}`;
    // A turn whose input already holds the command's output is answered in words.
    const item = body.includes('function_call_output')
      ? { type: 'message', id: `msg_${calls}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: text(++texts), annotations: [] }] }
      : { type: 'function_call', id: `fc_${calls}`, call_id: `call_${calls}`, name: 'exec_command', arguments: JSON.stringify({ cmd: command }) };
    return { status: 200, type: 'text/event-stream', body: stream(id, [item]) };
  });
}
