// The official Node SDK as a service uses it, driven line by line by tests/sdk/test_node_sdk.py.
// Logs in with universal auth (INFISICAL_* variables below), prints {"ready": true}, then answers each command
// read on stdin, `get` or `list`, with one JSON line: {"ok": true, ...} or {"ok": false, "error", "message"}, the
// SDK's error as it reports it (InfisicalSDKRequestError: "[URL=…] [Method=…] [StatusCode=…] <server message>").
import { createInterface } from "node:readline";
import { InfisicalSDK } from "@infisical/sdk";

const env = process.env;
const where = {
  projectId: env.INFISICAL_PROJECT_ID,
  environment: env.INFISICAL_ENVIRONMENT,
  secretPath: env.INFISICAL_SECRET_PATH,
};

function emit(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function failure(error) {
  return { ok: false, error: error.name, message: error.message };
}

const commands = {
  get: async (sdk) => ({ secret: await sdk.secrets().getSecret({ ...where, secretName: env.INFISICAL_SECRET_NAME }) }),
  list: async (sdk) => ({ secrets: (await sdk.secrets().listSecrets(where)).secrets }),
};

const sdk = new InfisicalSDK({ siteUrl: env.INFISICAL_SITE_URL });
try {
  await sdk.auth().universalAuth.login({
    clientId: env.INFISICAL_CLIENT_ID,
    clientSecret: env.INFISICAL_CLIENT_SECRET,
  });
  emit({ ready: true });
} catch (error) {
  emit(failure(error));
  process.exit(1);
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = commands[line.trim()];
  if (!command) {
    emit({ ok: false, error: "UnknownCommand", message: line });
    continue;
  }
  const started = Date.now();
  try {
    emit({ ok: true, ...(await command(sdk)), ms: Date.now() - started });
  } catch (error) {
    emit({ ...failure(error), ms: Date.now() - started });
  }
}
