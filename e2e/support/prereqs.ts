// The external programs the tests, benchmarks and demo need. On this project's Debian machines we
// install what is missing (as root); anywhere else we say exactly what to install.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Prerequisite {
  /** A command that must be on PATH. */
  command: string;
  /** The Debian package that provides it. */
  debianPackage: string;
}

export const prerequisites = {
  redisServer: { command: 'redis-server', debianPackage: 'redis-server' },
  redisCli: { command: 'redis-cli', debianPackage: 'redis-tools' },
  redisBenchmark: { command: 'redis-benchmark', debianPackage: 'redis-tools' },
  redisSentinel: { command: 'redis-sentinel', debianPackage: 'redis-sentinel' },
  openssl: { command: 'openssl', debianPackage: 'openssl' },
  prometheus: { command: 'prometheus', debianPackage: 'prometheus' },
  promtool: { command: 'promtool', debianPackage: 'prometheus' },
  wrk: { command: 'wrk', debianPackage: 'wrk' },
} as const satisfies Record<string, Prerequisite>;

export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

function canInstallWithApt(): boolean {
  return process.getuid?.() === 0 && findOnPath('apt-get') !== undefined;
}

/**
 * Makes sure every listed command is on PATH, installing the missing Debian packages when we
 * are root on a Debian machine. Throws with the list of packages to install otherwise.
 */
export function ensurePrerequisites(wanted: readonly Prerequisite[]): void {
  const missing = wanted.filter((p) => findOnPath(p.command) === undefined);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((p) => p.debianPackage))];
  if (!canInstallWithApt()) {
    throw new Error(
      `missing ${missing.map((p) => p.command).join(', ')}: install the Debian/Ubuntu packages ` +
        `${packages.join(' ')} (apt-get install ${packages.join(' ')}) or their equivalents`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const stdio = ['ignore', 'inherit', 'inherit'] as const;
  console.error(`installing ${packages.join(' ')} with apt-get`);
  execFileSync('apt-get', ['update', '-qq'], { env, stdio: [...stdio] });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    env,
    stdio: [...stdio],
  });
  const stillMissing = missing.filter((p) => findOnPath(p.command) === undefined);
  if (stillMissing.length > 0) {
    throw new Error(`apt-get did not provide ${stillMissing.map((p) => p.command).join(', ')}`);
  }
}
