// Compiles lightmarket's Solidity sources with the pinned solc-js:
// Channels.sol (the payment contract; its ABI and deployment bytecode are
// the input of abigen, scripts/gen-contracts) and the test chain's
// contract patterns (internal/testchain/Patterns.sol, whose ABIs and
// bytecodes the test chain embeds).
//
//   node compile.js [OUTDIR]   writes Channels.abi, Channels.bin and
//                              Patterns.json to OUTDIR (default build/)
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const sources = {
  'Channels.sol': path.join(__dirname, 'Channels.sol'),
  'Patterns.sol': path.join(__dirname, '..', 'internal', 'testchain', 'Patterns.sol'),
};
const input = {
  language: 'Solidity',
  sources: Object.fromEntries(Object.entries(sources).map(([name, file]) => [name, { content: fs.readFileSync(file, 'utf8') }])),
  settings: {
    optimizer: { enabled: true, runs: 10000 },
    evmVersion: 'prague',
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of output.errors || []) {
  console.error(e.formattedMessage);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);

const out = process.argv[2] || path.join(__dirname, 'build');
fs.mkdirSync(out, { recursive: true });
const c = output.contracts['Channels.sol'].Channels;
fs.writeFileSync(path.join(out, 'Channels.abi'), JSON.stringify(c.abi, null, 1) + '\n');
fs.writeFileSync(path.join(out, 'Channels.bin'), c.evm.bytecode.object + '\n');
const patterns = {};
for (const [name, p] of Object.entries(output.contracts['Patterns.sol'])) {
  patterns[name] = { abi: p.abi, bin: '0x' + p.evm.bytecode.object };
}
fs.writeFileSync(path.join(out, 'Patterns.json'), JSON.stringify(patterns, null, 1) + '\n');
console.log(`compiled ${Object.keys(sources).join(', ')} with solc ${solc.version()}`);
