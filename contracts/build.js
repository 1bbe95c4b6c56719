// Compiles contracts/*.sol with solc (the npm package, solcjs) and writes each deployable
// contract's ABI and creation bytecode to the output folder: NAME.abi (JSON) and NAME.bin (hex).
// Run by build.sh (go generate ./internal/fundchain), which installs solc first.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const [src, out] = process.argv.slice(2);
const sources = {};
for (const f of fs.readdirSync(src).filter((f) => f.endsWith('.sol')).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(src, f), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    // No metadata hash: the bytecode depends on the sources and settings only, not on paths.
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of output.errors || []) {
  process.stderr.write(e.formattedMessage);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);
fs.mkdirSync(out, { recursive: true });
const names = [];
for (const file of Object.keys(output.contracts).sort()) {
  for (const [name, c] of Object.entries(output.contracts[file])) {
    if (!c.evm.bytecode.object) continue; // abstract contracts and interfaces
    fs.writeFileSync(path.join(out, name + '.abi'), JSON.stringify(c.abi, null, 1) + '\n');
    fs.writeFileSync(path.join(out, name + '.bin'), c.evm.bytecode.object + '\n');
    names.push(name);
  }
}
fs.writeFileSync(path.join(out, 'SOLC_VERSION'), solc.version() + '\n');
// The sources the artifacts were built from: a Go test compares them with contracts/*.sol, so
// a contract changed without `go generate` fails the tests.
const sums = Object.keys(sources).map((f) => crypto.createHash('sha256').update(sources[f].content).digest('hex') + '  ' + f);
fs.writeFileSync(path.join(out, 'SOURCES.sha256'), sums.join('\n') + '\n');
console.log('solc ' + solc.version() + ': ' + names.join(', ') + ' -> ' + out);
