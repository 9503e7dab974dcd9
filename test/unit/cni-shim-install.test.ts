/**
 * test/unit/cni-shim-install.test.ts — `ctnet-fast cni install` (src/cli/verbs/cni.ts) refusing
 * bad input before it touches any file, and the sample conflist it writes. The placing and
 * removing of files is test/priv/cni-shim-install.test.ts (root: the plugin trusts only a
 * root-owned manifest).
 *
 * Layer: tests (docs/ARCHITECTURE.md, "Layers"). No privileges; no file is written.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import { sampleConflist } from '../../src/cli/verbs/cni.js';
import { tempDir } from './cni-shim-support.js';

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, {});
  return { code, out: out.join(''), err: err.join('') };
}

describe('cni install: input', () => {
  it('refuses a bad --name, --subnet or --bin-dir with exit 2 and writes nothing', async () => {
    const t = tempDir();
    try {
      const bin = path.join(t.dir, 'bin');
      const conf = path.join(t.dir, 'conf');
      for (const [args, what] of [
        [['--name', 'two words'], /--name "two words"/],
        [['--name', 'a/b'], /--name "a\/b"/],
        [['--subnet', '10.0.0.1/8'], /host bits set/],
        [['--subnet', 'fd00::/129'], /prefix length/],
        [['--bin-dir', ''], /--bin-dir/],
      ] as const) {
        const r = await cli(['cni', 'install', '--bin-dir', bin, '--conf-dir', conf, ...args]);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
        assert.match(r.err, what);
        assert.ok(!existsSync(bin) && !existsSync(conf), 'nothing created');
      }
      const u = await cli(['cni', 'uninstall', '--bin-dir', bin, '--json']);
      assert.equal(u.code, 3, 'uninstall with nothing installed: not found');
      assert.match(u.out, /ctnet-cni\.json does not exist/);
    } finally {
      t.remove();
    }
  });

  it('writes a conflist of one ctnet-cni plugin with host-local IPAM and port mappings (v4 and v6 routes)', () => {
    for (const [subnet, dst] of [['10.89.0.0/16', '0.0.0.0/0'], ['fd00:89::/64', '::/0']] as const) {
      const c = JSON.parse(sampleConflist('pods', subnet)) as Record<string, unknown> & { plugins: Array<Record<string, unknown>> };
      assert.equal(c['cniVersion'], '1.0.0');
      assert.equal(c['name'], 'pods');
      assert.equal(c.plugins.length, 1);
      assert.deepEqual(c.plugins[0], {
        type: 'ctnet-cni', isGateway: true, ipMasq: true, hairpinMode: true, agent: 'fallback',
        ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst }] },
        capabilities: { portMappings: true },
      });
    }
  });
});
