// Listens for a contract's event with ethers v6 through the light client,
// over HTTP (ethers polls eth_newFilter / eth_getFilterChanges) and over
// WebSocket (ethers subscribes to "logs"), sending a transaction that
// emits it every few seconds until both listeners have seen it.
//
// usage: node listen.mjs HTTP_URL WS_URL PRIVATE_KEY CONTRACT
import { ethers } from "ethers";

const [httpUrl, wsUrl, key, address] = process.argv.slice(2);
const abi = ["event Ping(address indexed from, uint256 value)"];
const http = new ethers.JsonRpcProvider(httpUrl, undefined, { pollingInterval: 250 });
const ws = new ethers.WebSocketProvider(wsUrl);
const wallet = new ethers.Wallet(key, http);
const got = {};
const seen = (via) => (from, value, ev) => {
  got[via] = { from, value: value.toString(), blockNumber: ev.log.blockNumber, transactionHash: ev.log.transactionHash };
};
await new ethers.Contract(address, abi, http).on("Ping", seen("http"));
await new ethers.Contract(address, abi, ws).on("Ping", seen("ws"));

const deadline = Date.now() + 60_000;
while (!(got.http && got.ws)) {
  if (Date.now() > deadline) {
    console.error("timed out; seen: " + JSON.stringify(got));
    process.exit(1);
  }
  const tx = await wallet.sendTransaction({ to: address, data: ethers.zeroPadValue("0x2a", 32) });
  await tx.wait();
  await new Promise((r) => setTimeout(r, 2000));
}
console.log(JSON.stringify(got));
process.exit(0);
