/**
 * cli/protocol.ts — the names both halves of the daemon channel agree on: the protocol
 * version and the files under STATE_DIR. The server half is cli/daemon.ts, the client half
 * bin/ctnet-fast.cjs, which reads these through dist/bundle/table.cjs (bin-table.ts).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). Constants only, no import.
 */

/** The version every request carries (`{v: PROTOCOL, …}`); a daemon declines any other. */
export const PROTOCOL = 1;
export const SOCKET_NAME = 'ctnetd.sock';
export const PID_NAME = 'ctnetd.pid';
export const LOG_NAME = 'ctnetd.log';
/** Marker of a start under way by CTNET_DAEMON=auto (see bin/ctnet-fast.cjs autoStart). */
export const STARTING_NAME = 'ctnetd.starting';
/** Directory of the named-pipe pairs (free/, busy/, new/). */
export const PIPES_NAME = 'ctnetd';
