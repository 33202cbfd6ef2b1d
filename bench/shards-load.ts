import { z } from 'zod';
import type { Answer, LoadDriver } from './load-driver.ts';
import type { Load } from './shards-document.ts';
import { summarize } from './stats.ts';

/**
 * One saturating phase of signed `POST /counters/{name}` (+1) through the shared load driver: each
 * connection sends its next increment as soon as the last is answered, 429 or not. 200 and 204 are
 * acknowledged (each an applied change); of the rest, the 429s' Retry-After and problem type are
 * counted, and the first few other answers kept to say what they were.
 */
export async function incrementLoad(
  driver: LoadDriver,
  options: { name: string; seconds: number; connections: number; minimal: boolean },
): Promise<Load> {
  const path = `/counters/${encodeURIComponent(options.name)}`;
  const refusals = new Refusals();
  const phase = await driver.phase({
    name: options.name,
    connections: options.connections,
    seconds: options.seconds,
    method: 'POST',
    request: () => ({ path, ...(options.minimal ? { headers: { prefer: 'return=minimal' } } : {}) }),
    ok: [200, 204],
    observe: (answer) => refusals.observe(answer),
  });
  const { '200': ok = 0, '204': noContent = 0, '429': throttled = 0, ...other } = phase.statuses;
  return {
    seconds: phase.seconds,
    acknowledged: phase.latencies.length,
    ok,
    noContent,
    preferenceApplied: refusals.preferenceApplied,
    throttled,
    other,
    otherBodies: refusals.otherBodies,
    throttledWithoutRetryAfter: refusals.withoutRetryAfter,
    throttledTypes: refusals.types,
    acknowledgedLatencyMs: phase.latencyMs,
    throttledLatencyMs: summarize(refusals.latencies),
  };
}

/** What a phase counts beyond statuses and the acknowledged latencies. */
class Refusals {
  preferenceApplied = 0;
  withoutRetryAfter = 0;
  readonly latencies: number[] = [];
  readonly types: Record<string, number> = {};
  readonly otherBodies: string[] = [];

  observe(answer: Answer): void {
    if (answer.status === 204) {
      const applied = String(answer.headers['preference-applied'] ?? '');
      if (/(^|[\s,;])return=minimal([\s,;]|$)/.test(applied)) this.preferenceApplied++;
    } else if (answer.status === 429) {
      this.latencies.push(answer.ms);
      if (answer.headers['retry-after'] === undefined) this.withoutRetryAfter++;
      const type = problemType(answer.body);
      this.types[type] = (this.types[type] ?? 0) + 1;
    } else if (answer.status !== 200 && this.otherBodies.length < 5) {
      this.otherBodies.push(`${answer.status} ${answer.body.slice(0, 300)}`);
    }
  }
}

function problemType(body: string): string {
  try {
    const parsed = z.object({ type: z.string() }).safeParse(JSON.parse(body));
    return parsed.success ? parsed.data.type : '(no type)';
  } catch {
    return '(not JSON)';
  }
}
