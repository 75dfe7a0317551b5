// Loads the Lua scripts once and registers them on a client. ioredis' defineCommand sends EVALSHA
// and falls back to EVAL on NOSCRIPT per connection, so the scripts keep working after reconnects
// and after a Redis restart that flushed the script cache.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

export type LedgerClient = Redis | Cluster;

export const scriptNames = [
  'reserve',
  'settle',
  'reap',
  'preload',
  'snapshot',
  'heartbeat',
  'lease',
  'announce',
  'halt',
] as const;
export type ScriptName = (typeof scriptNames)[number];

function load(file: string): string {
  return readFileSync(new URL(`./scripts/${file}`, import.meta.url), 'utf8');
}

const library = load('lib.lua');

/** The full source of each script as Redis runs it: the shared library, then the body. */
export const scriptSources: Readonly<Record<ScriptName, string>> = Object.fromEntries(
  scriptNames.map((name) => [name, `${library}\n${load(`${name}.lua`)}`]),
) as Record<ScriptName, string>;

export function scriptSha(name: ScriptName): string {
  return createHash('sha1').update(scriptSources[name]).digest('hex');
}

const commandName = (name: ScriptName): string => `flashguard_${name}`;
const registered = new WeakSet<LedgerClient>();

type ScriptCommand = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

/**
 * Defines the ledger scripts as commands of `client`. Call it before the client's first command
 * when it auto-pipelines: ioredis copies a client's scripts into a pipeline when it makes it, so a
 * script first defined while a same-tick auto-pipeline is open is missing from that pipeline
 * (`pipeline[functionName] is not a function`) and the whole batch fails.
 */
export function registerLedgerScripts(client: LedgerClient): void {
  if (registered.has(client)) return;
  for (const script of scriptNames) {
    client.defineCommand(commandName(script), { lua: scriptSources[script] });
  }
  registered.add(client);
}

/** Runs a ledger script with its keys and arguments; registers the scripts on first use. */
export function runScript(
  client: LedgerClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  registerLedgerScripts(client);
  const command = (client as unknown as Record<string, ScriptCommand | undefined>)[
    commandName(name)
  ];
  if (command === undefined) throw new Error(`ledger script ${name} is not registered`);
  return command.call(client, keys.length, ...keys, ...args);
}

/**
 * Runs a ledger script, then `WAIT replicas timeoutMs` on the same connection, pipelined: one
 * round trip. WAIT counts the replicas holding every write this connection made before it. When
 * Redis has forgotten the script (NOSCRIPT), it is run the usual way, then WAIT on its own.
 */
export async function runScriptThenWait(
  client: LedgerClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
  ack: { replicas: number; timeoutMs: number },
): Promise<{ reply: unknown; acknowledged: number }> {
  const results = await client
    .pipeline()
    .evalsha(scriptSha(name), keys.length, ...keys, ...args)
    .wait(ack.replicas, ack.timeoutMs)
    .exec();
  const [[scriptError, reply] = [null, undefined], [waitError, acknowledged] = [null, 0]] =
    results ?? [];
  if (scriptError?.message.startsWith('NOSCRIPT') === true) {
    const loaded = await runScript(client, name, keys, args);
    return { reply: loaded, acknowledged: await client.wait(ack.replicas, ack.timeoutMs) };
  }
  if (scriptError !== null) throw scriptError;
  if (waitError !== null) throw waitError;
  return { reply, acknowledged: Number(acknowledged) };
}
