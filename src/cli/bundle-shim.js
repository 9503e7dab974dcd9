// src/cli/bundle-shim.js — injected by esbuild into the CommonJS bundle dist/bundle/cli.cjs
// (`npm run bundle`): `import.meta.url` is defined as this value there, so the code that
// finds files next to itself (package.json, the addon, the daemon's build stamp) works the
// same in the bundle as in dist/src. Not compiled by tsc; not used at run time otherwise.
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;
