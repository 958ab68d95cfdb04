#!/bin/sh
# Entry point of the session image (installed as /usr/local/bin/catty-session).
#
# The runtime runs from an execute-only copy of node (mode 0711, root-owned): a process exec'd
# from a file its user cannot read is not dumpable, so the agent — same uid — can read neither
# the runtime's /proc/<pid>/environ nor its memory, where the connect and machine tokens live.
# The gVisor release Debian ships cannot exec a file it cannot read; there we fall back to the
# ordinary node and say so (the tokens are then readable by the agent inside the sandbox).
runtime=/opt/catty/dist/session-runtime/bin.js
if /usr/local/lib/catty-node -e 0 2>/dev/null; then
  exec /usr/local/lib/catty-node "$runtime" "$@"
fi
echo "catty-session: warning: execute-only node unavailable here; the agent can read the runtime's environment" >&2
exec node "$runtime" "$@"
