// Compiles Channels.sol with the pinned solc-js and writes its ABI and
// deployment bytecode to build/, the input of abigen (scripts/gen-contracts).
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const source = 'Channels.sol';
const input = {
  language: 'Solidity',
  sources: { [source]: { content: fs.readFileSync(path.join(__dirname, source), 'utf8') } },
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

const out = path.join(__dirname, 'build');
fs.mkdirSync(out, { recursive: true });
const c = output.contracts[source].Channels;
fs.writeFileSync(path.join(out, 'Channels.abi'), JSON.stringify(c.abi, null, 1) + '\n');
fs.writeFileSync(path.join(out, 'Channels.bin'), c.evm.bytecode.object + '\n');
console.log(`compiled ${source} with solc ${solc.version()}`);
