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

/** Runs a ledger script with its keys and arguments; registers the scripts on first use. */
export function runScript(
  client: LedgerClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  if (!registered.has(client)) {
    for (const script of scriptNames) {
      client.defineCommand(commandName(script), { lua: scriptSources[script] });
    }
    registered.add(client);
  }
  const command = (client as unknown as Record<string, ScriptCommand>)[commandName(name)];
  if (command === undefined) throw new Error(`ledger script ${name} is not registered`);
  return command.call(client, keys.length, ...keys, ...args);
}
