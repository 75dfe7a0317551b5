import { Cluster } from 'ioredis';
import { startRedisCluster } from '../e2e/support/redis.ts';
import { ledgerSuite } from './ledger.suite.ts';

ledgerSuite('a 3-master Redis Cluster', async () => {
  const cluster = await startRedisCluster(3);
  return {
    connect: () => new Cluster([...cluster.startupNodes]),
    destroy: () => cluster.destroy(),
  };
});
