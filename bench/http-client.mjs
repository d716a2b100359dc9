// Sends POST bodies one after another over a keep-alive connection and reports each latency.
// Runs in a worker thread so the client does not share the server's event loop.
import { Agent, request } from "node:http";
import { parentPort, workerData } from "node:worker_threads";

const { url, bodies } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function post(body) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    const req = request(url, { method: "POST", agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const ms = performance.now() - started;
        const json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        if (res.statusCode !== 200 || json.hits.length === 0)
          reject(new Error(`bad answer ${res.statusCode}`));
        else resolve(ms);
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const latencies = [];
for (const body of bodies) latencies.push(await post(body));
agent.destroy();
parentPort.postMessage(latencies);
