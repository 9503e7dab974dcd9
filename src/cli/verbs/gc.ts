/**
 * cli/verbs/gc.ts — `gc [--dry-run]`: reconcile the durable state with the kernel (finish
 * or undo work a killed process left half-done, drop state of vanished netns, remove
 * links and elements of ours that no state refers to).
 *
 * Layer: CLI front door. Progress on a TTY; exit 1 when some repair failed.
 */
import type { Context } from '../context.js';
import { withHost } from '../lib.js';

export async function gc(ctx: Context): Promise<number> {
  const dryRun = ctx.options['dry-run'] === true;
  const onProgress = ctx.out.progress(dryRun ? 'gc (dry run)' : 'gc');
  const report = await withHost(ctx, (host) => host.gc({ dryRun, onProgress }));
  ctx.out.result({ dryRun, ...report }, () => {
    if (ctx.out.quiet) return report.errors.join('\n');
    const lines: string[] = [];
    if (report.actions.length === 0) lines.push(dryRun ? 'nothing to do' : 'nothing to repair: state and kernel agree');
    else lines.push(...report.actions.map((a) => `${dryRun ? 'would ' : ''}${a}`));
    if (report.errors.length > 0) lines.push('', `${report.errors.length} error(s):`, ...report.errors.map((e) => `  ${e}`));
    return lines.join('\n');
  });
  if (report.errors.length > 0) {
    ctx.out.info(`ctnet-fast: gc: ${report.errors.length} repair(s) failed (see above)`);
    return 1;
  }
  return 0;
}
