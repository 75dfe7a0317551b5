// The images, as far as a machine without Docker can check them: the Dockerfile's build stage
// commands produce the files its targets' CMDs name, those compiled entrypoints start and serve
// (the sidecar against Redis, the operator against a real control plane, configured by the
// environment as the chart and the webhook configure them), and what they import at run time is
// in the production dependencies the runtime stage installs.
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import { runCommand } from '../controlplane/commands.ts';
import { freePort, removeOnExit, startProcess, waitFor, waitForHttp } from '../support/process.ts';
import { leaseHolder } from '../support/operator.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { flashSale, startShop, type RunningShop } from '../support/sidecar.ts';

const root = join(import.meta.dirname, '..', '..');

interface Stage {
  name: string;
  from: string;
  runs: string[];
  copies: string[];
  user?: string;
  cmd?: string[];
}

/** The Dockerfile's stages: base, RUN lines, COPY sources (from the context), USER and CMD. */
function dockerStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const argument = rest.join(' ');
    const stage = stages.at(-1);
    if (instruction === 'FROM') {
      const m = /^(\S+)\s+AS\s+(\S+)$/i.exec(argument);
      assert.ok(m?.[1] !== undefined && m[2] !== undefined, `unnamed stage: ${line}`);
      stages.push({ name: m[2], from: m[1], runs: [], copies: [] });
    } else if (stage === undefined) {
      continue;
    } else if (instruction === 'RUN') {
      stage.runs.push(argument);
    } else if (instruction === 'COPY' && !argument.startsWith('--from')) {
      stage.copies.push(...rest.slice(0, -1));
    } else if (instruction === 'USER') {
      stage.user = argument;
    } else if (instruction === 'CMD') {
      stage.cmd = JSON.parse(argument) as string[];
    }
  }
  return stages;
}

/** Every package a compiled module imports, following relative imports from `entry`. */
function packagesReachableFrom(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const pending = [entry];
  const builtins = new Set(builtinModules);
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    // tsc writes the specifiers it rewrites (.ts → .js) with double quotes.
    for (const m of source.matchAll(/(?:from|import)\s*\(?\s*(['"])([^'"]+)\1/g)) {
      const specifier = m[2] ?? '';
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier));
      else if (!specifier.startsWith('node:') && !builtins.has(specifier)) {
        const parts = specifier.split('/');
        packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? ''));
      }
    }
  }
  return packages;
}

/**
 * Copies into `dest` what the build stage's COPY lines take from the build context, leaving out
 * what .dockerignore excludes. Knows the pattern forms our .dockerignore uses and refuses others,
 * so a new pattern cannot be silently misread.
 */
function replayBuildContext(copies: readonly string[], dest: string): void {
  const excludedSuffixes: string[] = [];
  const excludedDirs: string[] = [];
  for (const raw of readFileSync(join(root, '.dockerignore'), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === '*' || line.startsWith('!')) continue;
    const suffix = /^\*\*\/\*(\.[\w.]+)$/.exec(line);
    const dir = /^\*\*\/([\w-]+)\/$/.exec(line);
    if (suffix?.[1] !== undefined) excludedSuffixes.push(suffix[1]);
    else if (dir?.[1] !== undefined) excludedDirs.push(dir[1]);
    else throw new Error(`.dockerignore: this test does not understand "${line}"`);
  }
  const included = (path: string): boolean =>
    !excludedSuffixes.some((s) => path.endsWith(s)) &&
    !path.split(sep).some((part) => excludedDirs.includes(part));
  for (const source of copies) {
    cpSync(join(root, source), join(dest, source), {
      recursive: true,
      filter: (from) => included(relative(root, from)),
    });
  }
}

void describe('the Dockerfile and the compiled entrypoints its images run', () => {
  const stages = dockerStages(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const stage = (name: string): Stage => {
    const found = stages.find((s) => s.name === name);
    assert.ok(found, `no stage ${name}`);
    return found;
  };
  let dir: string;
  /** Where the replayed build stage ran: the image's /app, as far as dist/ goes. */
  let app: string;
  const entrypoint = (target: string): string => {
    const cmd = stage(target).cmd;
    assert.equal(cmd?.[0], 'node', `${target} runs node`);
    // Node's own flags come first; the script is the one argument that is not a flag.
    return join(app, cmd.find((arg, i) => i > 0 && !arg.startsWith('-')) ?? '');
  };
  let redis: RedisServer;
  let shop: RunningShop;
  let cp: ControlPlane;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flashguard-images-'));
    removeOnExit(dir);
    app = join(dir, 'app');
    [redis, shop, cp] = await Promise.all([startRedis(), startShop(), startControlPlane()]);
  });
  after(() => Promise.all([redis.destroy(), shop.stop(), cp.stop()]));

  void it('builds on Node 24 with npm ci + npm run build, runs production deps as non-root', () => {
    const build = stage('build');
    const runtime = stage('runtime');
    const nodeImage = /^ARG NODE_IMAGE=(\S+)$/m.exec(
      readFileSync(join(root, 'Dockerfile'), 'utf8'),
    );
    assert.match(nodeImage?.[1] ?? '', /^node:24-slim$/);
    assert.deepEqual(build.runs, ['npm ci', 'npm run build']);
    assert.ok(runtime.runs.some((r) => r.startsWith('npm ci --omit=dev')));
    assert.match(runtime.user ?? '', /^[1-9]\d*:[1-9]\d*$/, 'a numeric non-root user');
    // The build stage copies every folder the build compiles.
    const buildConfig = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    for (const folder of buildConfig.include) assert.ok(build.copies.includes(folder), folder);
    for (const target of ['operator', 'sidecar']) assert.equal(stage(target).from, 'runtime');
  });

  void it('the build stage, replayed on the build context alone, makes the files the targets run, importing only dependencies', async () => {
    // What `npm ci` would install is already in the repository's node_modules.
    replayBuildContext(stage('build').copies, app);
    symlinkSync(realpathSync(join(root, 'node_modules')), join(app, 'node_modules'));
    // The project's Node 24 first, as `npm run` puts it for every script.
    const path = [join(app, 'node_modules', '.bin'), dirname(process.execPath), process.env.PATH];
    const env = { ...process.env, PATH: path.join(delimiter) };
    const result = await runCommand('npm', ['run', 'build', '--prefix', app], env, {
      check: false,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const framework = { operator: '@kubernetes/client-node', sidecar: 'fastify' };
    for (const [target, expected] of Object.entries(framework)) {
      const file = entrypoint(target);
      assert.ok(existsSync(file), `${target}: ${file} not built`);
      const packages = packagesReachableFrom(file);
      assert.ok(packages.has(expected), `${target}: the import walk missed ${expected}`);
      for (const name of packages) {
        assert.ok(
          name in pkg.dependencies,
          `${target} imports ${name}, not a production dependency`,
        );
      }
    }
  });

  void it("the sidecar image's entrypoint serves, configured by the environment", async () => {
    const saleFile = join(dir, 'sale.yaml');
    writeFileSync(saleFile, stringify(flashSale('image-check')));
    const [port, opsPort] = [await freePort(), await freePort()];
    const logFile = join(dir, 'sidecar.log');
    const proc = startProcess({
      name: 'compiled sidecar',
      command: process.execPath,
      args: [entrypoint('sidecar')],
      cwd: app,
      env: {
        ...process.env,
        FLASHGUARD_SALE_FILE: saleFile,
        FLASHGUARD_UPSTREAM: shop.url,
        FLASHGUARD_REDIS_URL: redis.url,
        FLASHGUARD_LISTEN: `127.0.0.1:${String(port)}`,
        FLASHGUARD_METRICS: `127.0.0.1:${String(opsPort)}`,
      },
      logFile,
    });
    try {
      await waitForHttp(`http://127.0.0.1:${String(opsPort)}/readyz`, proc, logFile);
    } finally {
      await proc.stop();
    }
  });

  void it("the operator image's entrypoint takes the Lease and is ready", async () => {
    await cp.kubectl(['apply', '-f', join(root, 'crds')]);
    const opsPort = await freePort();
    const logFile = join(dir, 'operator.log');
    const proc = startProcess({
      name: 'compiled operator',
      command: process.execPath,
      args: [entrypoint('operator')],
      cwd: app,
      env: {
        ...process.env,
        KUBECONFIG: cp.kubeconfig,
        FLASHGUARD_REDIS_URL: redis.url,
        FLASHGUARD_LISTEN: `127.0.0.1:${String(opsPort)}`,
        POD_NAMESPACE: 'default',
        POD_NAME: 'operator-image-check',
      },
      logFile,
    });
    try {
      await waitForHttp(`http://127.0.0.1:${String(opsPort)}/readyz`, proc, logFile);
      await waitFor(
        'the compiled operator to hold the Lease',
        async () => {
          return (await leaseHolder(cp)) === 'operator-image-check' ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      );
    } finally {
      await proc.stop();
    }
  });
});
