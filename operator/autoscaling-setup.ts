// The autoscaling flags, so main.ts only spreads them and passes the settings on.
import type { AutoscalingOptions } from './autoscaling.ts';

export const autoscalingFlags = {
  'prometheus-url': { type: 'string' },
} as const;

export const autoscalingUsage = `  [--prometheus-url URL] (FLASHGUARD_PROMETHEUS_URL: the KEDA trigger's serverAddress)`;

export function autoscalingSettings(
  values: Partial<Record<keyof typeof autoscalingFlags, string>>,
  env: NodeJS.ProcessEnv,
): AutoscalingOptions {
  const url = values['prometheus-url'] ?? env.FLASHGUARD_PROMETHEUS_URL;
  return { prometheusUrl: url === '' ? undefined : url };
}
