// Probot as `probot run` serves it, with one repository_advisory handler that stores
// nothing: the baseline of herald's ingest benchmark (benches/ingest.rs, phase "probot").
// The benchmark passes PORT, HOST, WEBHOOK_SECRET, APP_ID and LOG_LEVEL; the App's
// private key is a throwaway, since no request ever reaches GitHub.
import { generateKeyPairSync } from "node:crypto";
import { run } from "probot";

process.env.PRIVATE_KEY = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
}).privateKey;

await run((app) => {
  app.on("repository_advisory", async () => {});
});
