#!/bin/sh
# Entry point of the session image (installed as /usr/local/bin/catty-session).
#
# The agent runs as the runtime's uid, so two things keep the runtime's secrets (connect and
# machine tokens, the agent's secrets) from it (SECURITY.md 37):
#
# - The runtime runs from an execute-only copy of node (mode 0711, root-owned): a process exec'd
#   from a file its user cannot read is not dumpable, so the agent can read neither its
#   /proc/<pid>/environ nor its memory, nor ptrace it. The gVisor release Debian ships cannot exec
#   a file it cannot read; there the ordinary node runs (gVisor refuses the agent the runtime's
#   memory anyway: /proc/<pid>/mem, ptrace of an ancestor and process_vm_readv; not environ).
# - The provisioner passes the settings in the environment, but the runtime is exec'd without
#   any CATTY_* variable: they reach it on stdin (session-runtime/launcher.ts sets them in its
#   heap), so its /proc/<pid>/environ holds none of them under any OCI runtime. This shell, pid 1
#   until the exec, holds them only before any agent exists.
dir=/opt/catty/dist/session-runtime
# A Swarm session (api/provisioners/swarm-spec.ts) gets no network by the engine's configuration,
# not by its own: a node whose dockerd has a bridge would give it one. Said, and not started.
if [ "$CATTY_LOOPBACK_ONLY" = 1 ]; then
  others=$(sed -n 's/^ *\([^ :]*\):.*/\1/p' /proc/net/dev 2>/dev/null | grep -vx lo)
  if [ -n "$others" ] || [ ! -r /proc/net/dev ]; then
    echo "catty-session: this machine has network interfaces besides lo ($(echo $others)): run dockerd with --bridge=none on every catty node" >&2
    exit 1
  fi
fi
node=node
if /usr/local/lib/catty-node -e 0 2>/dev/null; then
  node=/usr/local/lib/catty-node
else
  echo "catty-session: warning: the execute-only node cannot run here (gVisor?): the runtime runs the ordinary one, dumpable" >&2
fi
settings=$(node -e 'const s = {}; for (const [k, v] of Object.entries(process.env)) if (k.startsWith("CATTY_")) s[k] = v; process.stdout.write(JSON.stringify(s))') || exit 1
for name in $(env | sed -n 's/^\(CATTY_[A-Z0-9_]*\)=.*/\1/p'); do unset "$name"; done
exec "$node" "$dir/launcher.js" "$dir/bin.js" <<EOF
$settings
EOF
