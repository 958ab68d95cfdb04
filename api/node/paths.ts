/**
 * Where a catty-node keeps its things, under one directory of its own (0700): its control
 * socket, its pid file, its log, and each session's egress directory (`egress/<id>/`, holding
 * the proxy's socket; the directory, not the socket, is what a machine binds). The API derives
 * the node directory from its data directory, so one data directory has one node.
 */
import { join } from 'node:path';

export const nodeDirOf = (dataDir: string): string => join(dataDir, 'node');
export const controlSocketOf = (nodeDir: string): string => join(nodeDir, 'control.sock');
export const pidFileOf = (nodeDir: string): string => join(nodeDir, 'catty-node.pid');
export const logFileOf = (nodeDir: string): string => join(nodeDir, 'node.log');
export const egressRootOf = (nodeDir: string): string => join(nodeDir, 'egress');
