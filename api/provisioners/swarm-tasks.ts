/**
 * What the Swarm provisioner reads from the manager: a service's tasks (where and whether its one
 * task runs) and a node's catty-node URL. The manager knows every node; the API talks to no
 * node's engine, only to its catty-node (api/node/remote.ts).
 */
import type Docker from 'dockerode';
import { nodeUrl } from '../node/remote.js';
import { NODE_URL_LABEL } from './swarm-spec.js';

/** A task as the engine's API returns it (the fields read here). */
export interface SwarmTask {
  ID: string;
  NodeID?: string;
  DesiredState?: string;
  Status?: { State?: string; Err?: string; Message?: string };
}

/** A task that will not run any more (swarmkit's terminal states). */
export const ENDED_STATES = new Set(['complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove']);

export async function tasksOf(docker: Docker, service: string): Promise<SwarmTask[]> {
  return (await docker.listTasks({ filters: { service: [service] } })) as SwarmTask[];
}

/** The one task that runs, or undefined. */
export const runningTask = (tasks: SwarmTask[]): SwarmTask | undefined =>
  tasks.find((t) => t.Status?.State === 'running' && t.DesiredState === 'running');

/** Why a service's task ended before running, or null while it may still run. */
export function taskFailure(tasks: SwarmTask[]): string | null {
  const ended = tasks.find((t) => ENDED_STATES.has(t.Status?.State ?? ''));
  if (!ended || tasks.some((t) => !ENDED_STATES.has(t.Status?.State ?? ''))) return null;
  return `its task ended (${ended.Status?.State}${ended.Status?.Err ? `: ${ended.Status.Err}` : ''})`;
}

/** Why a task waits to be placed (no node fits: labels, resources, the image), or null. */
export const pendingReason = (tasks: SwarmTask[]): string | null => {
  const pending = tasks.find((t) => t.Status?.State === 'pending' && t.Status.Err);
  return pending?.Status?.Err ?? null;
};

interface SwarmNode {
  Spec?: { Labels?: Record<string, string> };
  Status?: { Addr?: string; State?: string };
}

/** The URL of a node's catty-node: its `catty.node.url` label, else its address and `port`. */
export async function nodeUrlOf(docker: Docker, nodeId: string, port: number): Promise<string> {
  const node = (await docker.getNode(nodeId).inspect()) as SwarmNode;
  const labelled = node.Spec?.Labels?.[NODE_URL_LABEL];
  if (labelled) return labelled;
  const addr = node.Status?.Addr;
  if (!addr || addr === '0.0.0.0') throw new Error(`the swarm reports no address for node ${nodeId}: label it ${NODE_URL_LABEL}=https://HOST:PORT`);
  return nodeUrl(addr, port);
}

/** Every node that may run sessions (label catty.node=true), by id. */
export async function cattyNodeIds(docker: Docker, nodeLabel: string): Promise<string[]> {
  const nodes = (await docker.listNodes({ filters: JSON.stringify({ 'node.label': [`${nodeLabel}=true`] }) })) as Array<{ ID: string }>;
  return nodes.map((n) => n.ID);
}
