/** The WebSocket URL of a terminal path on this origin, with the runtime's query parameters. */
export function connectUrl(path: string, offset: number | undefined, cols: number, rows: number): string {
  const url = new URL(path, window.location.href);
  url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (offset !== undefined) url.searchParams.set('offset', String(offset));
  url.searchParams.set('cols', String(cols));
  url.searchParams.set('rows', String(rows));
  return url.toString();
}
