/**
 * cni/errors.ts — CNI error objects (SPEC.md "Error"): `{cniVersion, code, msg, details}`,
 * the spec's codes, and the mapping of the library's typed errors (CODE registry, by code,
 * never by message text) onto them.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI" and "Errors").
 */
import { codeOf, CODE, NetlinkError } from '../model/errors.js';

/** The spec's well-known codes, and ours (999). */
export const ERR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decode: 6,
  invalidConfig: 7,
  tryAgain: 11,
  notAvailable: 50,
  limitedConnectivity: 51,
  ours: 999,
} as const;

/** A failure with its CNI code; handleCni turns it into the error document. */
export class CniError extends Error {
  readonly cniCode: number;
  readonly details: string | undefined;
  constructor(code: number, msg: string, opts: { details?: string; cause?: unknown } = {}) {
    super(msg, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'CniError';
    this.cniCode = code;
    this.details = opts.details;
  }
}

/** The CNI code of any failure: a CniError's own, else by the library's error code. */
export function cniCodeOf(e: unknown): number {
  if (e instanceof CniError) return e.cniCode;
  if (e instanceof NetlinkError) return ERR.ours; // the kernel's answer (its EEXIST is no config conflict)
  switch (codeOf(e)) {
    case CODE.invalidInput: case CODE.overlap: case CODE.exists: return ERR.invalidConfig;
    case CODE.busy: return ERR.tryAgain;
    default: return ERR.ours;
  }
}

/** The error document of a failure, for the config's cniVersion (or the newest we speak). */
export function errorDocument(e: unknown, cniVersion: string): string {
  const code = cniCodeOf(e);
  const msg = e instanceof Error ? e.message : String(e);
  const details = e instanceof CniError ? e.details : (e instanceof Error && e.cause instanceof Error ? e.cause.message : undefined);
  return JSON.stringify({ cniVersion, code, msg, ...(details !== undefined && details !== '' ? { details } : {}) });
}
