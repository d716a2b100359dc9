import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { QdrantClient } from "@qdrant/js-client-rest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONTRACT_PATH, QdrantContract } from "../tools/qdrant-stand-in/contract.ts";
import { QdrantStandIn } from "../tools/qdrant-stand-in/server.ts";

const contract = QdrantContract.load();
const note = contract
  ? ""
  : ` (skipped: Qdrant's contract is not at ${CONTRACT_PATH}; see ../shared/data/qdrant/SOURCE.md)`;

describe.skipIf(!contract)(`Qdrant's own REST contract as a checker${note}`, () => {
  it("accepts what Qdrant takes and flags what it would refuse", () => {
    const c = contract as QdrantContract;
    const query = { query: [0.1, 0.2], limit: 3, with_payload: ["example_id"], with_vector: false };
    expect(c.checkRequest("POST", "/collections/examples/points/query", query)).toEqual([]);
    expect(c.checkRequest("POST", "/collections/examples/points/query", { ...query, limit: 0 })).toEqual([
      "POST /collections/{collection_name}/points/query request: /limit must be >= 1",
    ]);
    expect(
      c.checkRequest("PUT", "/collections/examples", {
        vectors: { size: 4, distance: "Cosine" },
        shard_number: 0,
      }),
    ).toEqual(["PUT /collections/{collection_name} request: /shard_number must be >= 1"]);
    expect(c.checkRequest("POST", "/collections/examples/points/nonsense", {})).toEqual([
      "POST /collections/examples/points/nonsense: no such operation in Qdrant master",
    ]);
    const answer = { result: { points: [{ id: "a", version: 1, score: 0.5 }] }, status: "ok", time: 0.001 };
    expect(c.checkResponse("POST", "/collections/x/points/query", 200, answer)).toEqual([]);
    expect(
      c.checkResponse("POST", "/collections/x/points/query", 200, {
        ...answer,
        result: { points: [{ id: "a", score: 0.5 }] },
      }),
    ).toEqual([
      "POST /collections/{collection_name}/points/query 200 answer: /result/points/0 must have required property 'version'",
    ]);
  });
});

describe("the Qdrant stand-in", () => {
  let standIn: QdrantStandIn;
  let client: QdrantClient;
  beforeAll(async () => {
    standIn = await new QdrantStandIn().start();
    client = new QdrantClient({ url: standIn.url, checkCompatibility: false });
  });
  afterAll(async () => {
    await standIn.stop();
  });

  it("keeps a collection's parameters and payload indexes, as Qdrant reports them", async () => {
    await client.createCollection("params", {
      vectors: { size: 3, distance: "Cosine", on_disk: true },
      shard_number: 2,
      replication_factor: 2,
      write_consistency_factor: 2,
      on_disk_payload: true,
    });
    await client.createPayloadIndex("params", {
      field_name: "category",
      field_schema: "keyword",
      wait: true,
    });
    await client.upsert("params", {
      wait: true,
      points: [{ id: 1, vector: [1, 0, 0], payload: { category: "code" } }],
    });
    const info = await client.getCollection("params");
    expect(info.config.params).toMatchObject({
      vectors: { size: 3, distance: "Cosine", on_disk: true },
      shard_number: 2,
      replication_factor: 2,
      write_consistency_factor: 2,
      on_disk_payload: true,
    });
    expect(info.payload_schema).toEqual({ category: { data_type: "keyword", points: 1 } });
  });

  it("serves a collection under an alias, moves the alias atomically, and drops it with its collection", async () => {
    for (const name of ["v1", "v2"])
      await client.createCollection(name, { vectors: { size: 2, distance: "Cosine" } });
    await client.upsert("v1", { wait: true, points: [{ id: 1, vector: [1, 0], payload: { from: "v1" } }] });
    await client.upsert("v2", { wait: true, points: [{ id: 2, vector: [1, 0], payload: { from: "v2" } }] });
    await client.updateCollectionAliases({
      actions: [{ create_alias: { collection_name: "v1", alias_name: "live" } }],
    });
    const from = async () =>
      (await client.query("live", { query: [1, 0], limit: 1, with_payload: true })).points[0]?.payload?.from;
    expect(await from()).toBe("v1");
    // One request deletes and re-creates: no moment without the alias.
    await client.updateCollectionAliases({
      actions: [
        { delete_alias: { alias_name: "live" } },
        { create_alias: { collection_name: "v2", alias_name: "live" } },
      ],
    });
    expect(await from()).toBe("v2");
    expect((await client.getAliases()).aliases).toEqual([{ alias_name: "live", collection_name: "v2" }]);
    expect((await client.getCollectionAliases("v2")).aliases).toEqual([
      { alias_name: "live", collection_name: "v2" },
    ]);
    // An action that cannot apply leaves every alias as it was.
    await expect(
      client.updateCollectionAliases({
        actions: [
          { delete_alias: { alias_name: "live" } },
          { create_alias: { collection_name: "missing", alias_name: "live" } },
        ],
      }),
    ).rejects.toThrow();
    expect(await from()).toBe("v2");
    // An alias may not take a collection's name.
    await expect(
      client.updateCollectionAliases({
        actions: [{ create_alias: { collection_name: "v2", alias_name: "v1" } }],
      }),
    ).rejects.toThrow();
    await client.deleteCollection("v2");
    expect((await client.getAliases()).aliases).toEqual([]);
    await expect(from()).rejects.toThrow();
  });

  it.skipIf(!contract)(
    `fails its stop, listing them, when a request did not fit the contract${note}`,
    async () => {
      const strict = await new QdrantStandIn().start();
      await fetch(`${strict.url}/collections/x/points/query`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: [1, 0], limit: 0 }),
      });
      await expect(strict.stop()).rejects.toThrow(
        "requests or answers that do not fit Qdrant's contract:\nPOST /collections/{collection_name}/points/query request: /limit must be >= 1",
      );
    },
  );

  it("runs as a standalone server that prints its port and stops on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "tools/qdrant-stand-in/main.ts", "--port", "0"],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once("line", resolve);
        child.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      const started = JSON.parse(line) as { url: string; port: number; contract: string | null };
      expect(started.url).toBe(`http://127.0.0.1:${started.port}`);
      expect(started.contract).toBe(contract ? `Qdrant ${contract.version}` : null);
      const remote = new QdrantClient({ url: started.url, checkCompatibility: false });
      await remote.createCollection("standalone", { vectors: { size: 2, distance: "Cosine" } });
      expect((await remote.collectionExists("standalone")).exists).toBe(true);
    } finally {
      child.kill("SIGTERM");
    }
    const code = await new Promise((r) => child.once("exit", r));
    expect(code).toBe(0);
  });
});
