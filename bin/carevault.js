#!/usr/bin/env node
// The `carevault` command; the TypeScript is compiled by `npm install` (prepare) or `npm run build`.
require('../dist/src/cli.js');
