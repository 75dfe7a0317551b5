// npm run demo: a flash sale on this machine. A real Redis, the demo shop, the sidecar in
// standalone mode (the image's entrypoint, as a child process), then a storm of shoppers; ends
// with a summary and exits non-zero if any promise to users was broken.
//
//   npm run demo [-- --requests N --users N --concurrency N --seed N --unguarded]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brokenPromises, formatProgress, formatSummary } from '../e2e/demo/report.ts';
import { demoSaleTemplate, placeDemoSale } from '../e2e/demo/sale-file.ts';
import { runStorm, type StormProgress } from '../e2e/demo/storm.ts';
import { ensurePrerequisites, prerequisites } from '../e2e/support/prereqs.ts';

import { startRedis } from '../e2e/support/redis.ts';
import { startShop, startSidecar } from '../e2e/support/sidecar.ts';

const usage = `usage: npm run demo [-- options]
  --requests N      checkouts the storm sends (default 10000)
  --users N         distinct shoppers (default 500)
  --concurrency N   requests in flight at once (default 50)
  --seed N          replay the storm of an earlier run
  --unguarded       send the storm straight at the shop, without the sidecar, to see what
                    Flashguard prevents (this run breaks the promises and exits non-zero)`;

interface DemoOptions {
  requests: number;
  users: number;
  concurrency: number;
  seed: number | undefined;
  guarded: boolean;
}

function parseOptions(): DemoOptions | undefined {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '10000' },
      users: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '50' },
      seed: { type: 'string' },
      unguarded: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  const integer = (name: string, text: string): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be an integer`);
    return value;
  };
  return {
    requests: integer('requests', values.requests),
    users: integer('users', values.users),
    concurrency: integer('concurrency', values.concurrency),
    seed: values.seed === undefined ? undefined : integer('seed', values.seed),
    guarded: !values.unguarded,
  };
}

/** A live progress line: rewritten in place on a terminal, one line a second in a log. */
function progressReporter(): {
  intervalMs: number;
  report: (p: StormProgress) => void;
  end: () => void;
} {
  const tty = process.stderr.isTTY;
  return {
    intervalMs: tty ? 100 : 1000,
    report: (p) => {
      process.stderr.write(tty ? `\r${formatProgress(p)}\x1b[K` : `${formatProgress(p)}\n`);
    },
    end: () => {
      if (tty) process.stderr.write('\n');
    },
  };
}

async function demo(options: DemoOptions, work: string): Promise<boolean> {
  const stops: (() => Promise<void>)[] = [];
  const step = (message: string): void => {
    process.stderr.write(`${message}\n`);
  };
  try {
    ensurePrerequisites([prerequisites.redisServer, prerequisites.redisCli]);
    const redis = await startRedis();
    step(`started Redis at ${redis.url}`);
    stops.push(() => redis.destroy());

    const shopLog = join(work, 'checkout-app.log');
    const shop = await startShop({ logFile: shopLog });
    stops.push(() => shop.stop());
    step(`started the demo shop at ${shop.url}`);

    const sale = placeDemoSale(readFileSync(demoSaleTemplate, 'utf8'), {
      nowMs: Date.now(),
      openForMs: 10 * 60_000,
      shopUrl: shop.url,
    });
    const saleFile = join(work, 'flashsale.yaml');
    writeFileSync(saleFile, sale.yaml);

    let target = shop.url;
    if (options.guarded) {
      const sidecar = await startSidecar({
        saleFile,
        upstream: shop.url,
        redisUrl: redis.url,
        dir: work,
      });
      stops.push(() => sidecar.stop());
      target = sidecar.url;
      step(`started the sidecar at ${target} (sale ${sale.name}, metrics at ${sidecar.opsUrl})`);
    }

    const timeoutMs = sale.settings.checkout.upstreamTimeoutMilliseconds + 3000;
    const progress = progressReporter();
    const storm = await runStorm({
      target,
      path: sale.settings.checkout.path,
      skus: sale.settings.items.map((item) => item.sku),
      users: options.users,
      requests: options.requests,
      concurrency: options.concurrency,
      duplicateRatio: 0.1,
      overLimitRatio: 0.05,
      perUserLimit: Math.max(...sale.settings.items.map((item) => item.perUserLimit)),
      timeoutMs,
      seed: options.seed,
      // Unguarded, the storm stands in for the sidecar's reservation header.
      reservationHeader: options.guarded ? undefined : sale.settings.checkout.reservationHeader,
      progressIntervalMs: progress.intervalMs,
      onProgress: progress.report,
    });
    progress.end();

    const report = {
      saleName: sale.name,
      guarded: options.guarded,
      items: sale.settings.items,
      timeoutMs,
      storm,
      shop: await shop.stats(),
    };
    console.log(`\n${formatSummary(report)}`);
    return brokenPromises(report).length === 0;
  } finally {
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => {
        console.error('while stopping:', error);
      });
    }
  }
}

async function main(): Promise<number> {
  let options: DemoOptions | undefined;
  try {
    options = parseOptions();
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
    return 2;
  }
  if (options === undefined) {
    console.log(usage);
    return 0;
  }
  const work = mkdtempSync(join(tmpdir(), 'flashguard-demo-'));
  let keepWork = false;
  process.on('exit', () => {
    if (!keepWork) rmSync(work, { recursive: true, force: true });
  });
  try {
    const kept = await demo(options, work);
    keepWork = !kept;
    if (!kept) console.error(`\nlogs and the sale file are in ${work}`);
    return kept ? 0 : 1;
  } catch (error) {
    keepWork = true;
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    console.error(`logs and the sale file are in ${work}`);
    return 1;
  }
}

process.exitCode = await main();
