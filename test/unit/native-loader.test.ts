/**
 * test/unit/native-loader.test.ts — src/backend/native.ts: where the addon is looked for,
 * what the loader reports when it is missing, and the NativeBackend wrapper. No privileges.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative, NativeBackend, NATIVE_ABI_VERSION, packageRoot } from '../../src/backend/native.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('native loader', () => {
  const saved = process.env['CTNET_NATIVE_PATH'];
  afterEach(() => {
    if (saved === undefined) delete process.env['CTNET_NATIVE_PATH'];
    else process.env['CTNET_NATIVE_PATH'] = saved;
    loadNative({ fresh: true });
  });

  it('finds the package root from src/native', () => {
    assert.equal(packageRoot(), root);
  });

  it('loads build/Release/ctnet_native.node with the expected ABI and exports', () => {
    delete process.env['CTNET_NATIVE_PATH'];
    const l = loadNative({ fresh: true });
    assert.ok(l.addon, l.error);
    assert.equal(l.addon.abiVersion, NATIVE_ABI_VERSION);
    assert.deepEqual(l.tried, [path.join(root, 'build/Release/ctnet_native.node')]);
    assert.equal(loadNative(), loadNative(), 'cached');
  });

  it('CTNET_NATIVE_PATH is tried first (relative to the package root) and reported when it fails', () => {
    process.env['CTNET_NATIVE_PATH'] = 'nowhere/ctnet_native.node';
    const l = loadNative({ fresh: true });
    assert.equal(l.tried[0], path.join(root, 'nowhere/ctnet_native.node'));
    assert.ok(l.addon, 'falls back to build/Release');
    process.env['CTNET_NATIVE_PATH'] = path.join(root, 'package.json');
    const bad = loadNative({ fresh: true });
    assert.equal(bad.tried[0], path.join(root, 'package.json'));
  });

  it('NativeBackend forwards run/close', async () => {
    const l = loadNative({ fresh: true });
    assert.ok(l.addon);
    const b = new NativeBackend(l.addon);
    assert.equal(b.name, 'native');
    assert.deepEqual(await b.run({ steps: [] }), []);
    await b.close();
    assert.deepEqual(await b.run({ steps: [] }), [], 'usable again after close (threads restart lazily)');
    await b.close();
  });
});
