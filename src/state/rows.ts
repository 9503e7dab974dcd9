/**
 * state/rows.ts — small pieces every table module of the store shares: the transaction
 * runner's type, the not-found error, JSON columns.
 *
 * Layer: state. See docs/ARCHITECTURE.md, "State model".
 */
import { CtnetError, CODE } from '../model/errors.js';

/** Runs `fn` in the store's transaction (joining an open one as a SAVEPOINT). */
export type Tx = <T>(fn: () => T) => T;

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function notFound(what: string): CtnetError {
  return new CtnetError(`${what} not found`, CODE.notFound);
}

/** A JSON column: null stays null (absent). */
export function fromJson<T>(text: string | null): T | undefined {
  return text === null ? undefined : JSON.parse(text) as T;
}
