/**
 * cli/verbs/netns.ts — `netns add | del | ls`: named network namespaces under /run/netns,
 * the same names `ip netns` sees.
 *
 * Layer: CLI front door. Uses the library's netns module.
 */
import { readdir } from 'node:fs/promises';
import type { Context } from '../context.js';
import { checkNetnsName, NETNS_RUN_DIR } from '../ns.js';
import { checkPrivilege } from '../privilege.js';
import { throwFailures } from '../../model/errors.js';

interface NetnsApi {
  create(name: string): Promise<string>;
  remove(name: string): Promise<void>;
  close(): Promise<void>;
}

/** The library's netns module on the backend the global options ask for. */
async function api(ctx: Context): Promise<NetnsApi> {
  const [m, { loadBackend }] = await Promise.all([import('../../netns/index.js'), import('../../backend/select.js')]);
  let backend: Awaited<ReturnType<typeof loadBackend>> | undefined;
  const get = async () => (backend ??= await loadBackend(ctx.global.backend ?? 'auto', (w) => ctx.out.warn(w)));
  return {
    create: async (name) => {
      const w = m.mountNamespaceWarning();
      if (w !== undefined) ctx.out.warn(w);
      return (await m.createNetns(name, await get())).path;
    },
    remove: async (name) => m.deleteNetns(name, { backend: await get() }),
    close: async () => { await backend?.close(); },
  };
}

async function each(ctx: Context, fn: (name: string) => Promise<void>): Promise<string[]> {
  const done: string[] = [];
  const errors: Error[] = [];
  for (const name of ctx.positionals) {
    try {
      checkNetnsName(name, ctx.verb.name);
      await fn(name);
      done.push(name);
    } catch (e) {
      errors.push(e as Error);
    }
  }
  throwFailures(ctx.verb.name, done, errors);
  return done;
}

export async function add(ctx: Context): Promise<number> {
  checkPrivilege(ctx.verb.name);
  const ns = await api(ctx);
  const added: Array<{ name: string; path: string }> = [];
  try {
    await each(ctx, async (name) => { added.push({ name, path: await ns.create(name) }); });
  } finally { await ns.close(); }
  ctx.out.result({ added }, () => (ctx.out.quiet ? '' : added.map((a) => `created netns ${a.name} (${a.path})`).join('\n')));
  return 0;
}

export async function del(ctx: Context): Promise<number> {
  checkPrivilege(ctx.verb.name);
  const ns = await api(ctx);
  let deleted: string[];
  try {
    deleted = await each(ctx, (name) => ns.remove(name));
  } finally { await ns.close(); }
  ctx.out.result({ deleted }, () => (ctx.out.quiet ? '' : deleted.map((n) => `deleted netns ${n}`).join('\n')));
  return 0;
}

export async function ls(ctx: Context): Promise<number> {
  // Like `ip netns list`: the entries of /run/netns (read directly: no library load needed).
  let names: string[] = [];
  try {
    names = await readdir(NETNS_RUN_DIR);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
  }
  const list = names.sort().map((name) => ({ name, path: `${NETNS_RUN_DIR}/${name}` }));
  ctx.out.result(list, () => (ctx.out.quiet ? list.map((n) => n.name).join('\n')
    : list.length === 0 ? `(no named netns under ${NETNS_RUN_DIR})` : ctx.out.table(['NAME', 'PATH'], list.map((n) => [n.name, n.path]))));
  return 0;
}
